#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "mlic.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"predict", mlic_cmd_predict, "label a list of images (EasyVision's ev_predict_ext job)"},
    {"import", mlic_cmd_import, "pack a torchvision state dict (safetensors) into a model"},
    {"info", mlic_cmd_info, "print what a model file holds"},
    {"export", mlic_cmd_export, "write a model as ONNX or a torchvision state dict"},
    {"quantize", mlic_cmd_quantize, "make an int8 model, calibrated on a list of images"},
    {"eval", mlic_cmd_eval, "a model's mAP and P/R/F1 on a labelled data set"},
    {"train", mlic_cmd_train, "train or fine-tune a model on a labelled data set"},
    {"report", mlic_cmd_report, "an HTML page of a model's training and evaluation"},
};

static void usage(FILE *f)
{
    fprintf(f, "mlic %s: multi-label image classification\n\nusage: mlic COMMAND [options]\n\n",
            MLIC_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'mlic COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mlic %s\n", MLIC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mlic: unknown command '%s'\nHINT: run 'mlic --help' for the list.\n", argv[1]);
    return 2;
}
