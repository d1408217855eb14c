#include "core/json.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace hpct {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::raw(const std::string& key, const std::string& json) {
  if (!body_.empty()) body_.push_back(',');
  body_.append(json_quote(key));
  body_.push_back(':');
  body_.append(json);
  return *this;
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) { return raw(key, json_quote(value)); }

JsonObject& JsonObject::add(const std::string& key, double value) {
  if (!std::isfinite(value)) return raw(key, "null");
  std::ostringstream os;
  os.precision(9);
  os << value;
  return raw(key, os.str());
}

JsonObject& JsonObject::add(const std::string& key, std::int64_t value) { return raw(key, std::to_string(value)); }
JsonObject& JsonObject::add(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
JsonObject& JsonObject::add(const std::string& key, const JsonObject& value) { return raw(key, value.str()); }

}  // namespace hpct
