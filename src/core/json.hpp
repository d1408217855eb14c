#pragma once
// One JSON object on one line, built field by field (events.jsonl). Numbers that are not finite are
// written as null; strings are escaped per RFC 8259.
#include <cstdint>
#include <string>

namespace hpct {

class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, std::int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, static_cast<std::int64_t>(value)); }
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, const JsonObject& value);  // a nested object
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonObject& raw(const std::string& key, const std::string& json);
  std::string body_;
};

std::string json_quote(const std::string& s);

}  // namespace hpct
