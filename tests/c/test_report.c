/* src/report and the trainer log it reads: HTML escaping (markup and bytes that are not UTF-8),
 * number cells, the SVG line chart's series and points, and reading a --log back (epochs, the
 * final line, an unfinished run, a bad line named by number, a line after the final one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "report/report_charts.h"
#include "report/report_html.h"
#include "train/trainer_log.h"

static void test_html(void)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_html_text(&b, "<a href=\"x\">'&'</a> \xc3\xa9 \xff!");
    CHECK(!strcmp(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; \xc3\xa9 "
                          "\xef\xbf\xbd!"), "%s", b.data);
    mlic_strbuf_clear(&b);
    mlic_html_num_cell(&b, "ap", 91.234567);
    mlic_html_num_cell(&b, NULL, NAN);
    CHECK(!strcmp(b.data, "<td class=\"ap\" data-v=\"91.234567\">91.23</td><td data-v=\"\">-</td>"),
          "%s", b.data);
    mlic_strbuf_clear(&b);
    /* Two series over 4 x values, one with a gap: its points skip it. */
    const double x[] = {1, 2, 3, 4}, a[] = {0.5, 0.4, 0.3, 0.2}, v[] = {NAN, 0.6, 0.5, 0.55};
    const mlic_chart_series s[] = {{"train <loss>", a}, {"val", v}};
    const mlic_line_chart c = {.id = "c", .xlabel = "epoch", .ylabel = "loss", .x = x, .n = 4,
                               .series = s, .nseries = 2, .mark_x = 3, .mark_label = "best",
                               .x_name = "epoch"};
    mlic_chart_lines(&b, &c);
    CHECK(!b.oom && strstr(b.data, "data-series=\"train &lt;loss&gt;\" data-points=\"4\""), "%s",
          b.data);
    CHECK(strstr(b.data, "data-series=\"val\" data-points=\"3\""), "%s", b.data);
    int circles = 0;
    for (const char *p = b.data; (p = strstr(p, "<circle")); p++)
        circles++;
    CHECK(circles == 7, "%d dots", circles);
    CHECK(strstr(b.data, "<title>val, epoch 2: 0.6</title>") && strstr(b.data, "class=\"mark\""),
          "hover text or best mark missing");
    mlic_strbuf_free(&b);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

static void test_log(void)
{
    char path[] = "/tmp/mlic_test_log_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    const char *epochs =
        "{\"epoch\": 1, \"step\": 3, \"lr\": 0.01, \"train_loss\": 0.7, \"images_per_s\": 50, "
        "\"seconds\": 2, \"val_loss\": null, \"map\": null, \"cf1\": null, \"of1\": null, "
        "\"best\": false}\n"
        "\n"
        "{\"epoch\": 2, \"step\": 6, \"lr\": 0.005, \"train_loss\": 0.5, \"images_per_s\": 60, "
        "\"seconds\": 4, \"val_loss\": 0.6, \"map\": 51.5, \"cf1\": 40, \"of1\": 45, "
        "\"best\": true}\n";
    char text[2048];
    snprintf(text, sizeof text, "%s{\"final\": true, \"best_epoch\": 2, \"map\": 55.5, \"cf1\": 50, "
             "\"of1\": 52, \"thresholds\": [0.25,0.75], \"config\": {\"arch\": \"resnet18\", "
             "\"classes\": [\"a\", \"b\"]}}\n", epochs);
    write_text(path, text);
    mlic_trainer_log l;
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(l.nepochs == 2 && l.epochs[1].epoch == 2 && l.epochs[1].step == 6 &&
          l.epochs[1].best && !l.epochs[0].best, "epochs read wrong");
    CHECK(isnan(l.epochs[0].val_map) && l.epochs[1].val_map == 51.5 && l.epochs[0].lr == 0.01,
          "values read wrong");
    CHECK(l.has_final && l.best_epoch == 2 && l.map == 55.5 && l.nthresholds == 2 &&
          l.thresholds[1] == 0.75f, "final line read wrong");
    CHECK(l.config && strstr(l.config, "\"classes\":[\"a\",\"b\"]"), "config: %s",
          l.config ? l.config : "NULL");
    mlic_trainer_log_free(&l);

    write_text(path, epochs); /* a run in progress */
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_OK && l.nepochs == 2 && !l.has_final &&
          !l.thresholds && !l.config, "an unfinished log: %s", mlic_errmsg());
    mlic_trainer_log_free(&l);

    snprintf(text, sizeof text, "%s[1, 2]\n", epochs);
    write_text(path, text);
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_ERR_FORMAT && strstr(mlic_errmsg(), ":4:") &&
          strstr(mlic_errmsg(), "not a JSON object"), "%s", mlic_errmsg());
    snprintf(text, sizeof text, "{\"final\": true}\n%s", epochs);
    write_text(path, text);
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_ERR_FORMAT && strstr(mlic_errmsg(), ":2:") &&
          strstr(mlic_errmsg(), "after the final"), "%s", mlic_errmsg());
    write_text(path, "{\"step\": 3}\n");
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_ERR_FORMAT && strstr(mlic_errmsg(), ":1:") &&
          strstr(mlic_errmsg(), "\"epoch\""), "%s", mlic_errmsg());
    CHECK(l.nepochs == 0 && !l.epochs, "a failed read leaves a log");
    unlink(path);
    CHECK(mlic_trainer_log_read(&l, path) == MLIC_ERR_IO && strstr(mlic_errmsg(), path), "%s",
          mlic_errmsg());
}

int main(void)
{
    test_html();
    test_log();
    CHECK_DONE();
}
