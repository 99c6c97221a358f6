/* PIL's antialiased bilinear resampling (Resample.c, "BILINEAR"), which torchvision's Resize
 * uses on PIL images: a triangle filter whose support grows with the downscale factor, weights
 * normalised per output sample, horizontal pass then vertical, each rounded to 8 bits as PIL
 * stores its intermediate and final images. Only a window of outputs is computed, so a centre
 * crop costs only what it keeps. */
#ifndef MLIC_IMAGE_RESAMPLE_H
#define MLIC_IMAGE_RESAMPLE_H

#include "mlic.h"

/* The weights of a window of outputs along one axis. */
typedef struct {
    int n;      /* outputs in the window */
    int taps;   /* row length of w */
    int *first; /* (n) first input index of each output */
    int *count; /* (n) inputs used, <= taps */
    float *w;   /* (n, taps) */
} mlic_resample_axis;

/* Output o (o0 <= o < o0 + n) is centred on input coordinate offset + (o + 0.5) * scale, where
 * scale is input pixels per output pixel; inputs lie in [0, in_size). */
mlic_status mlic_resample_axis_init(mlic_resample_axis *a, int in_size, double offset, double scale,
                                    int o0, int n);
void mlic_resample_axis_free(mlic_resample_axis *a);

/* out: (ys->n, xs->n, 3) in 0..255, from img resampled with the given windows. */
mlic_status mlic_resample_rgb(float *out, const mlic_image *img, const mlic_resample_axis *xs,
                              const mlic_resample_axis *ys);

#endif
