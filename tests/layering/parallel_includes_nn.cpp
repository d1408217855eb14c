// Must NOT compile: src/parallel sits below src/nn in the architecture, so its library does not see
// nn's headers (cmake/Layers.cmake). ctest builds this target and expects the build to fail.
#include "nn/mlp.hpp"
#include "parallel/ddp.hpp"

int main() { return 0; }
