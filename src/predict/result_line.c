#include "predict/result_line.h"

#include "util/json_write.h"

static void open_line(mlic_strbuf *b, const mlic_result_format *f, const char *path)
{
    if (f->format == MLIC_FORMAT_JSONL) {
        mlic_strbuf_puts(b, "{\"path\": ");
        mlic_json_write_string(b, path);
        mlic_strbuf_puts(b, ", ");
    } else {
        mlic_strbuf_puts(b, path);
        mlic_strbuf_puts(b, ", {");
    }
}

void mlic_result_line_ok(mlic_strbuf *b, const mlic_result_format *f, const char *path,
                         const float *probs)
{
    int k = f->num_classes;
    open_line(b, f, path);

    mlic_strbuf_puts(b, "\"class_probs\": {");
    for (int i = 0; i < k; i++) {
        if (i)
            mlic_strbuf_puts(b, ", ");
        mlic_json_write_string(b, f->class_names[i]);
        mlic_strbuf_puts(b, ": ");
        mlic_json_write_float(b, probs[i]);
    }

    mlic_strbuf_puts(b, "}, \"classes\": [");
    int first = 1;
    for (int i = 0; i < k; i++) {
        if (probs[i] >= f->thresholds[i]) {
            mlic_strbuf_printf(b, first ? "%d" : ", %d", i);
            first = 0;
        }
    }

    mlic_strbuf_puts(b, "], \"predictions\": [");
    for (int i = 0; i < k; i++) {
        if (i)
            mlic_strbuf_puts(b, ", ");
        mlic_json_write_bool(b, probs[i] >= f->thresholds[i]);
    }

    mlic_strbuf_puts(b, "], \"class_names\": [");
    first = 1;
    for (int i = 0; i < k; i++) {
        if (probs[i] >= f->thresholds[i]) {
            if (!first)
                mlic_strbuf_puts(b, ", ");
            mlic_json_write_string(b, f->class_names[i]);
            first = 0;
        }
    }

    mlic_strbuf_puts(b, "], \"probs\": [");
    for (int i = 0; i < k; i++) {
        if (i)
            mlic_strbuf_puts(b, ", ");
        mlic_json_write_float(b, probs[i]);
    }
    mlic_strbuf_puts(b, "]}\n");
}

void mlic_result_line_error(mlic_strbuf *b, const mlic_result_format *f, const char *path,
                            const char *message)
{
    open_line(b, f, path);
    mlic_strbuf_puts(b, "\"error\": ");
    mlic_json_write_string(b, message);
    mlic_strbuf_puts(b, "}\n");
}
