/* The main of every unit test executable: the verbose basic runner; non-zero exit on any test
 * failure or CUnit error, so meson sees it. */
#include <CUnit/Basic.h>
#include <stdio.h>

#include "cunit_main.h"

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 2;
    }
    if (register_tests() != 0 || CU_get_error() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: registering tests failed: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    int rc = (failed != 0 || CU_get_error() != CUE_SUCCESS || ran == 0) ? 1 : 0;
    CU_cleanup_registry();
    return rc;
}
