// The months of failure_details that serve and migrate make and those that prune keeps: one
// function of (now, retention). Checked for every day of two years (a leap day among them) at
// three times of day and retentions from a day to 100 years, against the definition written
// independently here with std::chrono's calendar: a month goes when it ends at or before
// now - retention.
#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "store/retention.hpp"

using namespace std::chrono;
namespace st = tlsrpt::store;

namespace {

// The definition, without the code's month numbers: the month's end, by calendar arithmetic.
bool dropped_by_definition(year_month ym, sys_seconds now, seconds retention) {
  const sys_seconds end = sys_days((ym + months(1)) / 1);
  return end <= now - retention;
}

year_month ym_of(st::Month m) {
  const year_month_day d{floor<days>(st::month_start(m))};
  return {d.year(), d.month()};
}

const std::vector<seconds> retentions = {
    days(1),   days(2),   days(15),  days(27),  days(28),  days(29),   days(30),   days(31),  days(32),
    days(59),  days(60),  days(61),  days(62),  days(89),  days(90),   days(91),   days(365), days(366),
    days(399), days(400), days(401), days(730), days(731), days(3650), days(36500), days(1) + seconds(1),
    days(400) - seconds(1)};

}  // namespace

TEST_CASE("retention months: month numbers and partition names go both ways") {
  for (int y : {1926, 1999, 2000, 2024, 2026, 2099})
    for (unsigned mo = 1; mo <= 12; ++mo) {
      const sys_seconds t = sys_days(year(y) / month(mo) / 15) + hours(7);
      const st::Month m = st::month_of(t);
      CHECK(ym_of(m) == year(y) / month(mo));
      CHECK(st::month_named(st::month_partition(m)) == m);
      CHECK(st::month_start(m + 1) > t);
      CHECK(st::month_start(m) <= t);
    }
  CHECK(st::month_partition(st::month_of(sys_days(year(2026) / 3 / 31))) == "failure_details_2026_03");
  CHECK(st::month_named("failure_details_2026_13") == std::nullopt);
  CHECK(st::month_named("failure_details_2026_00") == std::nullopt);
  CHECK(st::month_named("failure_details_default") == std::nullopt);
  CHECK(st::month_named("failure_details_2026-03") == std::nullopt);
  CHECK(st::month_named("failure_details_2026_031") == std::nullopt);
  CHECK(st::month_named("xfailure_details_2026_03") == std::nullopt);
}

TEST_CASE("retention months: ensure makes only what prune keeps, and every kept month up to the cap") {
  const sys_days first_day = year(2027) / 1 / 1, last_day = year(2028) / 12 / 31;  // 2028-02-29 among them
  int checked = 0;
  for (sys_days day = first_day; day <= last_day; day += days(1))
    for (const seconds time_of_day : {seconds(0), seconds(12 * 3600 + 1), seconds(86399)})
      for (const seconds r : retentions) {
        const sys_seconds now = day + time_of_day;
        const st::MonthRange made = st::months_to_make(now, r, 3);
        // The current month and the three after it are always made.
        REQUIRE(made.first <= st::month_of(now));
        REQUIRE(made.last == st::month_of(now) + 3);
        // prune after ensure finds nothing: no made month is one prune drops, by the code or by the definition.
        for (st::Month m = made.first; m <= made.last; ++m) {
          REQUIRE_FALSE(st::prune_drops(m, now, r));
          REQUIRE_FALSE(dropped_by_definition(ym_of(m), now, r));
        }
        // ensure after prune makes nothing: the month before the first made is one prune drops,
        // unless the first is held back by the cap (then it is kept, but not made ahead).
        if (made.first > st::month_of(now) - st::max_months_made_back) {
          REQUIRE(st::prune_drops(made.first - 1, now, r));
          REQUIRE(dropped_by_definition(ym_of(made.first - 1), now, r));
        } else {
          REQUIRE(made.first == st::month_of(now) - st::max_months_made_back);
        }
        // prune's decision is the definition's, around the first month kept.
        for (st::Month m = made.first - 3; m <= made.first + 3; ++m)
          REQUIRE(st::prune_drops(m, now, r) == dropped_by_definition(ym_of(m), now, r));
        ++checked;
      }
  CHECK(checked == 731 * 3 * static_cast<int>(retentions.size()));
}

TEST_CASE("retention months: the case of issue 25 (400 days on 2026-12-07)") {
  const sys_seconds now = sys_days(year(2026) / 12 / 7) + hours(10);
  const st::MonthRange made = st::months_to_make(now, days(400), 3);
  // now - 400 days is 2025-11-02: October 2025 goes and is not made again; November stays.
  CHECK(st::month_partition(made.first) == "failure_details_2025_11");
  CHECK(st::prune_drops(st::month_of(sys_days(year(2025) / 10 / 31)), now, days(400)));
  CHECK(st::month_partition(made.last) == "failure_details_2027_03");
}

TEST_CASE("retention months: a month ending exactly at the cutoff goes") {
  const sys_seconds now = sys_days(year(2027) / 3 / 1) + days(30);  // 2027-03-31 00:00
  const st::Month feb = st::month_of(sys_days(year(2027) / 2 / 1));
  CHECK(st::prune_drops(feb, now, days(30)));                                 // cutoff 2027-03-01 00:00: February ended then
  CHECK_FALSE(st::prune_drops(feb, now - seconds(1), days(30)));              // a second earlier it is still kept
  CHECK(st::months_to_make(now, days(30), 3).first == feb + 1);
  CHECK(st::months_to_make(now - seconds(1), days(30), 3).first == feb);
}
