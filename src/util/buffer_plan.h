/* A liveness-based buffer planner: the one that lays out the inference backends' activation
 * buffers (backend/onednn_plan.c, backend/ref.c) and the training executor's activation and
 * gradient arenas (train/train_graph.c).
 *
 * The caller walks its schedule in order: a value that starts living takes a slot of at least
 * its size, and gives it back after its last use; a later value reuses a free slot. A slot may
 * have several holders (a value aliasing another's buffer holds it too) and is free when the
 * last one gives it back. When all is planned, slot s lies at offset(s) in one arena of
 * total() units: the slots back to back in id order. Units are the caller's (bytes, floats per
 * sample); every size is rounded up to a multiple of the plan's alignment, so every offset is
 * one too.
 *
 * Best fit, deterministic: a take gets the smallest free slot that is large enough, else the
 * largest free one (grown to the size), else a new slot; of equal candidates the lowest id.
 * The same takes and gives always give the same slots, offsets and total. */
#ifndef MLIC_UTIL_BUFFER_PLAN_H
#define MLIC_UTIL_BUFFER_PLAN_H

#include <stddef.h>

#include "mlic.h"

typedef struct mlic_buffer_plan mlic_buffer_plan;

/* align: the unit sizes round up to (>= 1). */
mlic_status mlic_buffer_plan_create(mlic_buffer_plan **out, size_t align);
void mlic_buffer_plan_destroy(mlic_buffer_plan *p);
/* Forget every slot (plan again from scratch, keeping the memory). */
void mlic_buffer_plan_reset(mlic_buffer_plan *p);

/* A slot of at least size units with one holder, into *slot. Fails only out of memory. */
mlic_status mlic_buffer_plan_take(mlic_buffer_plan *p, size_t size, int *slot);
/* One more holder of a slot that has one (a value sharing another's buffer). */
void mlic_buffer_plan_hold(mlic_buffer_plan *p, int slot);
/* One holder fewer; at none the slot is free for a later take. */
void mlic_buffer_plan_give(mlic_buffer_plan *p, int slot);
int mlic_buffer_plan_holders(const mlic_buffer_plan *p, int slot);

int mlic_buffer_plan_slots(const mlic_buffer_plan *p);
/* The largest size the slot was taken for, rounded to the alignment. */
size_t mlic_buffer_plan_size(const mlic_buffer_plan *p, int slot);
/* Where the slot starts in the arena: the sizes of the slots before it. */
size_t mlic_buffer_plan_offset(const mlic_buffer_plan *p, int slot);
/* The arena: every slot's size. */
size_t mlic_buffer_plan_total(const mlic_buffer_plan *p);

#endif
