/* Training-time augmentation, torchvision's usual recipe on PIL images:
 *   RandomResizedCrop(size, scale, ratio) -> RandomHorizontalFlip(p) ->
 *   ColorJitter(brightness, contrast, saturation) -> ToTensor -> Normalize(mean, std).
 * Drawing the random parameters (mlic_augment_sample) is separate from applying them
 * (mlic_augment_apply), so a test can feed torchvision the same crop, flip and factors. Applying
 * reproduces PIL's 8-bit arithmetic (ImageEnhance blends, its "L" conversion), so the result
 * matches torchvision's on the same parameters to within the resize's rounding. */
#ifndef MLIC_IMAGE_AUGMENT_H
#define MLIC_IMAGE_AUGMENT_H

#include "core/rng.h"
#include "mlic.h"

/* ColorJitter's operations; torchvision applies them in a random order. */
typedef enum {
    MLIC_JITTER_BRIGHTNESS = 0, /* blend with black */
    MLIC_JITTER_CONTRAST,       /* blend with the mean grey level */
    MLIC_JITTER_SATURATION,     /* blend with the image's own grey version */
    MLIC_JITTER_COUNT
} mlic_jitter_op;

typedef struct {
    int size;          /* output is (3, size, size) */
    double scale[2];   /* crop area as a fraction of the image's, [min, max] */
    double ratio[2];   /* crop aspect ratio width / height, [min, max] */
    double hflip_p;    /* probability of a left-right flip */
    double jitter[MLIC_JITTER_COUNT]; /* strength x: factor uniform in [max(0, 1-x), 1+x]; 0 = off */
    float mean[3];     /* Normalize, on [0, 1] values */
    float std[3];
} mlic_augment_cfg;

/* One draw of the random parameters. */
typedef struct {
    int top, left, height, width;      /* crop box in the source image */
    int flip;                          /* mirror left-right after resizing */
    int order[MLIC_JITTER_COUNT];      /* the jitter operations in the order they apply */
    double factor[MLIC_JITTER_COUNT];  /* by mlic_jitter_op; 1 leaves the image unchanged */
} mlic_augment_params;

/* size, mean and std from the model's eval preprocessing (size = crop); torchvision's
 * RandomResizedCrop defaults (scale 0.08..1, ratio 3/4..4/3), flip p = 0.5, and jitter 0.4 for
 * brightness, contrast and saturation. */
mlic_augment_cfg mlic_augment_cfg_default(const mlic_preprocess *p);

/* Refuses a configuration the sampler or the normaliser cannot use, naming the field. */
mlic_status mlic_augment_cfg_check(const mlic_augment_cfg *cfg);

/* Draws the parameters for a width x height image: the crop as torchvision's
 * RandomResizedCrop.get_params (10 tries, then its centre-crop fallback), then the flip, then
 * ColorJitter.get_params's order and factors. */
mlic_status mlic_augment_sample(mlic_augment_params *p, int width, int height,
                                const mlic_augment_cfg *cfg, mlic_rng *rng);

/* out: (3, cfg->size, cfg->size). img is cropped to p's box, resized (antialiased bilinear),
 * flipped, jittered and normalised. */
mlic_status mlic_augment_apply(float *out, const mlic_image *img, const mlic_augment_cfg *cfg,
                               const mlic_augment_params *p);

/* Sample, then apply. out: (3, cfg->size, cfg->size). */
mlic_status mlic_augment_train(float *out, const mlic_image *img, const mlic_augment_cfg *cfg,
                               mlic_rng *rng);

#endif
