#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "delivery/spool.hpp"
#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using groupwatch::delivery::detail::encode_record;
using groupwatch::delivery::detail::Spool;

void append_n(Spool& s, int from, int to) {
  std::string buf;
  for (int i = from; i < to; ++i) encode_record(make_result(i), buf);
  s.append(buf, static_cast<std::size_t>(to - from));
}

// Appends records [from, to) and returns the file offset where `from` starts.
std::uint64_t append_at(Spool& s, int from, int to) {
  const std::uint64_t at = s.file_bytes();
  append_n(s, from, to);
  return at;
}

// Consumes the first `n` records.
void consume_front(Spool& s, std::size_t n) {
  std::uint64_t bytes = 0;
  s.read_front(n, bytes);
  s.consume(bytes, n);
}

std::vector<int> read_all(Spool& s) {
  std::uint64_t bytes = 0;
  std::vector<int> out;
  for (auto& r : s.read_front(1'000'000, bytes)) out.push_back(index_of(r));
  return out;
}

TEST(Spool, SurvivesReopenAndConsumesInOrder) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  {
    Spool s(path);
    append_n(s, 0, 10);
    s.sync();
    EXPECT_EQ(s.pending(), 10u);
  }
  Spool s(path);
  EXPECT_EQ(s.pending(), 10u);
  EXPECT_EQ(s.corrupt_bytes(), 0u);
  std::uint64_t bytes = 0;
  auto first = s.read_front(4, bytes);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(index_of(first[0]), 0);
  s.consume(bytes, 4);
  EXPECT_EQ(read_all(s), range(4, 10));
  auto rest_bytes = s.pending_bytes();
  s.consume(rest_bytes, 6);
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_EQ(fs::file_size(path), 0u);  // truncated once everything is consumed
}

TEST(Spool, TornTailIsCutOff) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  std::uint64_t good = 0;
  {
    Spool s(path);
    append_n(s, 0, 5);
    good = s.file_bytes();
  }
  {
    std::string extra;
    encode_record(make_result(5), extra);
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f.write(extra.data(), static_cast<std::streamsize>(extra.size() / 2));  // a write cut short by a crash
  }
  Spool s(path);
  EXPECT_EQ(s.pending(), 5u);
  EXPECT_GT(s.corrupt_bytes(), 0u);
  EXPECT_EQ(fs::file_size(path), good);
  EXPECT_EQ(read_all(s), range(0, 5));
  append_n(s, 5, 7);  // appends continue cleanly after the cut
  Spool again(path);
  EXPECT_EQ(read_all(again), range(0, 7));
}

void flip_byte(const std::string& path, std::uint64_t at) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(at)), 1);
  c = static_cast<char>(c ^ 0x5a);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
}

// The issue: "a byte flipped in record 747 of 1,494 -> 747 records dropped
// (746 of them intact)". Now only the damaged record goes, into quarantine.
TEST(Spool, AFlippedByteLosesOnlyItsRecordAndQuarantinesIt) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  std::uint64_t bad_starts = 0, bad_ends = 0;
  {
    Spool s(path);
    append_n(s, 0, 746);
    bad_starts = append_at(s, 746, 747);
    bad_ends = append_at(s, 747, 1494);
  }
  flip_byte(path, bad_starts + 20);
  Spool s(path);
  std::vector<int> want = range(0, 746);
  for (int i : range(747, 1494)) want.push_back(i);
  EXPECT_EQ(s.pending(), 1493u);
  EXPECT_EQ(read_all(s), want);
  EXPECT_EQ(s.corrupt_bytes(), bad_ends - bad_starts);
  EXPECT_EQ(fs::file_size(path + ".quarantine"), bad_ends - bad_starts);
  append_n(s, 1494, 1495);  // appends continue after the rewrite
  Spool again(path);
  want.push_back(1494);
  EXPECT_EQ(read_all(again), want);
}

// One byte flipped in one record of a closed spool: reopened, the spool
// skips that record only, and what was consumed before stays consumed.
struct Flip {
  int records;            // 0 .. records-1 written
  std::size_t consumed;   // the first ones consumed before the damage
  int damaged;            // the record hit
  std::uint64_t byte;     // which of its bytes
  std::vector<int> read;  // what the reopened spool reads
};

void expect_only_the_damaged_record_skipped(const Flip& f) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  std::uint64_t damaged_starts = 0;
  {
    Spool s(path);
    append_n(s, 0, f.damaged);
    damaged_starts = append_at(s, f.damaged, f.records);
    if (f.consumed > 0) consume_front(s, f.consumed);
  }
  flip_byte(path, damaged_starts + f.byte);
  Spool s(path);
  EXPECT_EQ(read_all(s), f.read);
}

// A damaged length field (the record's own framing) is skipped the same way.
TEST(Spool, ADamagedLengthIsSkippedToTheNextWholeRecord) {
  expect_only_the_damaged_record_skipped({6, 0, 2, 1, {0, 1, 3, 4, 5}});
}

// A consumed prefix stays consumed when the damage lies after it.
TEST(Spool, TheConsumedPositionHoldsAcrossAResync) {
  expect_only_the_damaged_record_skipped({8, 2, 4, 12, {2, 3, 5, 6, 7}});
}

TEST(Spool, DropFrontKeepsTheInFlightPrefix) {
  TempDir dir;
  Spool s(dir.file("s.wal"));
  append_n(s, 0, 10);
  std::uint64_t two = 0;
  s.read_front(2, two);
  std::uint64_t one_record = two / 2;
  EXPECT_EQ(s.drop_front(two, 3 * one_record), 3u);
  EXPECT_EQ(s.pending(), 7u);
  std::vector<int> want{0, 1, 5, 6, 7, 8, 9};
  EXPECT_EQ(read_all(s), want);
  EXPECT_EQ(s.file_bytes(), 7 * one_record);
}

TEST(Spool, UnwritablePathThrowsNamingIt) {
  try {
    Spool s("/dev/null/x.wal");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/dev/null/x.wal"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

TEST(Spool, ConsumedPositionSurvivesReopen) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  {
    Spool s(path);
    append_n(s, 0, 10);
    consume_front(s, 3);
  }
  Spool s(path);
  EXPECT_EQ(s.pending(), 7u);
  EXPECT_EQ(read_all(s), range(3, 10));
}

TEST(Spool, HeadNotOnARecordBoundaryReplaysEverything) {
  TempDir dir;
  std::string path = dir.file("s.wal");
  {
    Spool s(path);
    append_n(s, 0, 4);
    std::uint64_t bytes = 0;
    s.read_front(1, bytes);
    s.consume(bytes + 1, 1);  // a position inside the second record
  }
  Spool s(path);
  EXPECT_EQ(read_all(s), range(0, 4));
}

}  // namespace
