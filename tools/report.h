/* `coldchainctl report`: one shipment as a single self-contained HTML file a pharmacist can
 * read, print to PDF and send on (issue 7): identity and profile with its limits, a temperature
 * chart per probe as inline SVG (limits drawn, excursions shaded), the summary table, the alarm
 * log with acknowledgements and comments, and the audit trail's statement. No scripts, no
 * network: inline CSS only. Every text from the history or the config is HTML-escaped.
 * One thread: coldchainctl's main. */
#ifndef COLDCHAIN_REPORT_H
#define COLDCHAIN_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "histdb.h"
#include "shipview.h"

/* What the report says about the audit trail. */
struct report_audit {
    int64_t head_id;     /* the chain's newest event, 0 when there is none */
    char head_hash[65];  /* its hash as hex, "" when there is none */
    char statement[512]; /* one sentence: whether verify passed, or why it was not run */
    int verified;        /* 1 passed, 0 failed, -1 not run */
};

/* Width of a chart's plot area in SVG user units: one column of the min/max downsampling each. */
#define REPORT_CHART_COLUMNS 1000

/* Writes the report of view (from shipview_open(), not yet scanned: the one pass over the
 * readings happens here, feeding both the summary and the charts) to out. generated_ms is the
 * wall time to print as the report's date. 0, -EIO (writing failed), -ENOMEM, or the scan's
 * error. */
int report_write(FILE *out, struct histdb *db, struct shipview *view,
                 const struct report_audit *audit, int64_t generated_ms);

#endif
