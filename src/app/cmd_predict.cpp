#include "app/commands.hpp"
#include "core/error.hpp"
namespace hpct::app {
int run_predict(const Args&) { fail("predict: not written yet"); }
}
