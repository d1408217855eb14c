#pragma once
// Writes a text file so that readers see either the old file or the complete new one: the text goes
// to "<path>.tmp.<pid>", which is then renamed over the path.
#include <string>

namespace hpct {

void write_text_atomic(const std::string& path, const std::string& text);

// Flushes a closed file's data to disk (fsync), so that a crash after the rename that follows cannot
// leave the new name pointing at lost data; `display` names the file in the error.
void sync_file(const std::string& path, const std::string& display);

// "<path>.tmp.<pid>": the temporary name used by every atomic writer.
std::string temporary_path(const std::string& path);

}  // namespace hpct
