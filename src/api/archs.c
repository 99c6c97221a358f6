/* mlic_archs: the architectures the graph builder knows (nn/graph.h), for programs and the CLI. */
#include "mlic.h"
#include "nn/graph.h"

const char *const *mlic_archs(void) { return mlic_graph_archs; }
