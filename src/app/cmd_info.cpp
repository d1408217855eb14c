#include "app/commands.hpp"
#include "core/error.hpp"
namespace hpct::app {
int run_info(const Args&) { fail("info: not written yet"); }
}
