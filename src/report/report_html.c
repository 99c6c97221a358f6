#include "report/report_html.h"

#include <math.h>
#include <string.h>

#include "util/json_write.h"

void mlic_html_text(mlic_strbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        switch (*p) {
        case '&': mlic_strbuf_puts(b, "&amp;"); p++; continue;
        case '<': mlic_strbuf_puts(b, "&lt;"); p++; continue;
        case '>': mlic_strbuf_puts(b, "&gt;"); p++; continue;
        case '"': mlic_strbuf_puts(b, "&quot;"); p++; continue;
        case '\'': mlic_strbuf_puts(b, "&#39;"); p++; continue;
        default: break;
        }
        int n = mlic_utf8_seq_len(p);
        if (n == 0) {
            mlic_strbuf_puts(b, "\xef\xbf\xbd");
            p++;
        } else {
            mlic_strbuf_append(b, (const char *)p, (size_t)n);
            p += n;
        }
    }
}

void mlic_html_num2(mlic_strbuf *b, double v)
{
    if (isnan(v))
        mlic_strbuf_putc(b, '-');
    else
        mlic_strbuf_printf(b, "%.2f", v);
}

void mlic_html_num_cell(mlic_strbuf *b, const char *cls, double v)
{
    mlic_strbuf_puts(b, "<td");
    if (cls)
        mlic_strbuf_printf(b, " class=\"%s\"", cls);
    if (isnan(v))
        mlic_strbuf_puts(b, " data-v=\"\"");
    else
        mlic_strbuf_printf(b, " data-v=\"%.9g\"", v);
    mlic_strbuf_putc(b, '>');
    mlic_html_num2(b, v);
    mlic_strbuf_puts(b, "</td>");
}

const char mlic_report_style[] =
    "<style>\n"
    ":root{--fg:#1d2430;--muted:#5b6675;--line:#d8dde4;--bg:#f6f7f9;--accent:#1f6fb2}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI','DejaVu Sans',sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "header{background:#18324d;color:#fff;padding:14px 24px}\n"
    "header h1{margin:0;font-size:20px;font-weight:600}\n"
    "header p{margin:2px 0 0;color:#c9d6e3;font-size:13px}\n"
    "nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);"
    "padding:6px 24px}\n"
    "nav a{margin-right:18px;color:var(--accent);text-decoration:none;font-weight:600}\n"
    "main{max-width:1240px;margin:0 auto;padding:8px 24px 40px}\n"
    "section{margin-top:18px}\n"
    "h2{font-size:18px;margin:18px 0 8px;border-bottom:2px solid var(--line);padding-bottom:4px}\n"
    "h3{font-size:15px;margin:14px 0 6px}\n"
    ".note{background:#fff7e0;border:1px solid #ecd48c;border-radius:6px;padding:8px 12px;"
    "margin:8px 0}\n"
    ".missing{background:#eef1f5;border:1px dashed #aab4c0;border-radius:6px;padding:10px 14px;"
    "color:var(--muted)}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}\n"
    ".metric{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px;"
    "min-width:104px}\n"
    ".metric .v{display:block;font-size:24px;font-weight:650;font-variant-numeric:tabular-nums}\n"
    ".metric .k{color:var(--muted);font-size:12px}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}\n"
    ".panel{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 12px;"
    "break-inside:avoid}\n"
    ".panel h3{margin:0 0 4px}\n"
    "svg{display:block;width:100%;height:auto;font-size:13px}\n"
    "svg.bars{font-size:12px}\n"
    "svg text{fill:var(--muted)}\n"
    "svg .axis{stroke:#9aa5b1;stroke-width:1}\n"
    "svg .gridline{stroke:#eceff3;stroke-width:1}\n"
    "svg circle:hover,svg rect.bar:hover{stroke:#000;stroke-width:1.5}\n"
    "svg .mark{stroke:#5b6675;stroke-width:1.5;stroke-dasharray:5 3}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:var(--muted)}\n"
    ".legend i{display:inline-block;width:14px;height:3px;margin-right:5px;vertical-align:middle}\n"
    ".pr{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px}\n"
    "table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}\n"
    "th,td{border:1px solid var(--line);padding:3px 8px;text-align:right}\n"
    "th{background:#eef1f5;font-weight:600}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "table.sortable th{cursor:pointer;user-select:none}\n"
    "table.sortable th[data-dir=asc]::after{content:' \\25B2'}\n"
    "table.sortable th[data-dir=desc]::after{content:' \\25BC'}\n"
    "table.facts td{text-align:left}\n"
    "table.facts th{text-align:left;width:150px}\n"
    ".facts-grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\n"
    ".facts-grid>table{flex:1 1 420px}\n"
    "table.facts td{word-break:break-word}\n"
    "code{font-size:12px;word-break:break-all}\n"
    ".heat td{min-width:34px;text-align:center}\n"
    ".h1{background:#fbe9e5}.h2{background:#f6d3cb}.h3{background:#f1bdb1}.h4{background:#eca797}"
    ".h5{background:#e6907d}.h6{background:#e07a63;color:#fff}.h7{background:#da6449;color:#fff}"
    ".h8{background:#d44e35;color:#fff}.h9{background:#c8381d;color:#fff}\n"
    ".scroll{overflow-x:auto}\n"
    ".examples{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px}\n"
    ".ex{background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px;"
    "font-size:12px;break-inside:avoid}\n"
    ".ex img{display:block;max-width:100%;height:auto;margin:0 auto 4px;border-radius:4px}\n"
    ".ex .path{color:var(--muted);word-break:break-all}\n"
    ".ex .bad{color:#b03020;font-weight:600}\n"
    "@media print{nav{display:none}body{background:#fff;font-size:11px}"
    "header{background:#fff;color:#000;border-bottom:2px solid #000}header p{color:#333}"
    "main{max-width:none;padding:0}.panel,.metric,.ex{border-color:#999}"
    "section{break-before:page}section:first-of-type{break-before:auto}}\n"
    "</style>\n";

const char mlic_report_script[] =
    "<script>\n"
    "(function(){\n"
    "function key(row,i){var c=row.cells[i],v=c.getAttribute('data-v');"
    "return v===null?c.textContent:(v===''?NaN:parseFloat(v));}\n"
    "document.querySelectorAll('table.sortable').forEach(function(t){\n"
    " var hs=t.tHead.rows[0].cells;\n"
    " Array.prototype.forEach.call(hs,function(th,i){th.addEventListener('click',function(){\n"
    "  var dir=th.getAttribute('data-dir')==='desc'?'asc':'desc';\n"
    "  Array.prototype.forEach.call(hs,function(h){h.removeAttribute('data-dir');});\n"
    "  th.setAttribute('data-dir',dir);\n"
    "  var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);\n"
    "  rows.sort(function(a,b){var x=key(a,i),y=key(b,i),r;\n"
    "   if(typeof x==='number'){if(isNaN(x))return isNaN(y)?0:1;if(isNaN(y))return -1;r=x-y;}\n"
    "   else r=x.localeCompare(y);return dir==='asc'?r:-r;});\n"
    "  rows.forEach(function(r){body.appendChild(r);});\n"
    " });});\n"
    "});\n"
    "})();\n"
    "</script>\n";
