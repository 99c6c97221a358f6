/* Writing the report's HTML: escaping, number cells, and the page's inline style and script. */
#ifndef MLIC_REPORT_REPORT_HTML_H
#define MLIC_REPORT_REPORT_HTML_H

#include "util/strbuf.h"

/* Text or an attribute value with &, <, >, " and ' escaped; bytes that are not valid UTF-8
 * (file names are arbitrary bytes) become U+FFFD. */
void mlic_html_text(mlic_strbuf *b, const char *s);

/* "%.2f", as mlic eval's table prints metrics, or "-" for NaN. */
void mlic_html_num2(mlic_strbuf *b, double v);

/* A table cell holding v with two decimals, its exact value in data-v for sorting ("" for NaN:
 * sorted last). cls: the cell's class or NULL. */
void mlic_html_num_cell(mlic_strbuf *b, const char *cls, double v);

/* The page's <style> and <script> elements: no external resource. The script only sorts tables
 * (a click on a header) and is not needed to read anything. */
extern const char mlic_report_style[];
extern const char mlic_report_script[];

#endif
