// The records of a gzip-compressed TFRecord file (TFX writes its examples so): each record is a
// little-endian u64 length, a masked crc32c of it, the data and a masked crc32c of the data; the
// crcs are not checked. Stops at the first short or oversized record. For tests and benches
// over the tf-feature-columns fixtures.
#ifndef RANKOPT_TESTS_TF_RECORDS_H_
#define RANKOPT_TESTS_TF_RECORDS_H_

#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rankopt::test_data {

inline std::vector<std::string> ReadTfRecordsGz(const std::string& path) {
  std::vector<std::string> records;
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return records;
  uint64_t length = 0;
  uint32_t crc = 0;
  while (gzread(f, &length, 8) == 8 && gzread(f, &crc, 4) == 4 && length <= (1u << 24)) {
    std::string data(length, '\0');
    if (gzread(f, data.data(), static_cast<unsigned>(length)) != static_cast<int>(length) ||
        gzread(f, &crc, 4) != 4) {
      break;
    }
    records.push_back(std::move(data));
  }
  gzclose(f);
  return records;
}

}  // namespace rankopt::test_data

#endif  // RANKOPT_TESTS_TF_RECORDS_H_
