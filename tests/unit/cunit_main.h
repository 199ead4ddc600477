/* Shared by every CUnit executable: each test file defines register_tests(), which adds its
 * suites with CU_add_suite()/CU_add_test(); cunit_main.c runs them verbosely. */
#ifndef COLDCHAIN_CUNIT_MAIN_H
#define COLDCHAIN_CUNIT_MAIN_H

#include <CUnit/CUnit.h>

/* Returns 0, or a CUnit error code if a suite or test could not be added. */
int register_tests(void);

#endif
