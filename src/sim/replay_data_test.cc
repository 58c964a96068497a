#include "sim/replay_data.h"

#include <gtest/gtest.h>

#include <cmath>

namespace civitas::sim {
namespace {

Micros At(const char* iso) { return *ParseDateTime(iso); }

TEST(ReplayDataTest, TimestampsWithoutZoneAreUtcWithZeroToThreeFractionDigits) {
  EXPECT_EQ(ParseCsvTimestamp("2014-03-01T00:05:00"), At("2014-03-01T00:05:00Z"));
  EXPECT_EQ(ParseCsvTimestamp("2014-05-22 09:09:04.145"), At("2014-05-22T09:09:04.145Z"));
  EXPECT_EQ(ParseCsvTimestamp("2014-05-22 09:09:04.1"), At("2014-05-22T09:09:04.100Z"));
  EXPECT_EQ(ParseCsvTimestamp("2014-05-22 09:09:04.14"), At("2014-05-22T09:09:04.140Z"));
  EXPECT_FALSE(ParseCsvTimestamp("2014-05-22 09:09:04."));
  EXPECT_FALSE(ParseCsvTimestamp("2014-05-22 09:09:04.1456"));
  EXPECT_FALSE(ParseCsvTimestamp("2014-05-22 09:09"));
  EXPECT_FALSE(ParseCsvTimestamp("2014-13-22 09:09:04"));
  EXPECT_FALSE(ParseCsvTimestamp("2014-05-22/09:09:04"));
  EXPECT_FALSE(ParseCsvTimestamp(""));
}

TEST(ReplayDataTest, TrafficRowsGetTheSegmentMidpointAndBadRowsAreCounted) {
  const char* meta =
      "POINT_1_STREET,POINT_1_LAT,POINT_2_LAT,POINT_2_LNG,POINT_1_LNG,REPORT_ID\n"
      "A,56.0,56.2,10.4,10.2,158324\n"
      "B,56.1,56.1,10.1,10.1,999\n";
  const char* csv =
      "status,avgMeasuredTime,avgSpeed,extID,medianMeasuredTime,TIMESTAMP,vehicleCount,_id,"
      "REPORT_ID\n"
      "OK,71,52,668,71,2014-03-01T00:05:00,7,2,158324\n"
      "OK,71,0,668,71,2014-03-01T00:00:00,3,1,158324\r\n"
      "OK,71,x,668,71,2014-03-01T00:10:00,3,3,158324\n"   // bad speed
      "OK,71,40,668,71,2014-03-01T00:10:00,3,4,424242\n"  // unknown segment
      "OK,71,40,668,71,,3,5,158324\n";                    // no time
  auto d = ParseTraffic(csv, meta);
  ASSERT_TRUE(d.ok()) << d.status().detail();
  ASSERT_EQ(d->devices.size(), 2u);
  EXPECT_EQ(d->devices[0].id, "traffic-158324");
  EXPECT_NEAR(d->devices[0].lat, 56.1, 1e-9);
  EXPECT_NEAR(d->devices[0].lon, 10.3, 1e-9);
  EXPECT_EQ(d->bad, 3u);
  ASSERT_EQ(d->rows.size(), 2u);
  // Sorted by time, speed 0 kept as recorded.
  EXPECT_EQ(d->rows[0].at, At("2014-03-01T00:00:00Z"));
  EXPECT_EQ(d->rows[0].a, 3);
  EXPECT_EQ(d->rows[0].b, 0);
  EXPECT_EQ(d->rows[1].a, 7);
  EXPECT_EQ(d->rows[1].b, 52);
  EXPECT_FALSE(ParseTraffic("TIMESTAMP,REPORT_ID\n", meta).ok());
}

TEST(ReplayDataTest, ParkingRowsKeepMoreVehiclesThanSpaces) {
  const char* garages = "garagecode,lat,lon\nNORREPORT,56.16184,10.21284\n";
  const char* csv =
      ",vehiclecount,updatetime,_id,totalspaces,garagecode,streamtime\n"
      "0,70,2014-05-22 09:09:04.145,1,65,NORREPORT,2014-11-03 16:18:44\n"
      "1,3,2014-05-22 09:39:04,2,65,NORREPORT,2014-11-03 16:18:44\n"
      "2,3,2014-05-22 09:39:04,3,65,UNKNOWN,2014-11-03 16:18:44\n"
      "3,-1,2014-05-22 09:39:04,4,65,NORREPORT,2014-11-03 16:18:44\n"
      "garbage\n";
  auto d = ParseParking(csv, garages);
  ASSERT_TRUE(d.ok()) << d.status().detail();
  ASSERT_EQ(d->devices.size(), 1u);
  EXPECT_EQ(d->devices[0].id, "parking-NORREPORT");
  EXPECT_DOUBLE_EQ(d->devices[0].lat, 56.16184);
  EXPECT_EQ(d->bad, 3u);
  ASSERT_EQ(d->rows.size(), 2u);
  EXPECT_EQ(d->rows[0].at, At("2014-05-22T09:09:04.145Z"));
  EXPECT_EQ(d->rows[0].a, 70);  // more than the 65 spaces: sent as recorded
  EXPECT_EQ(d->rows[0].b, 65);
  EXPECT_FALSE(ParseParking(csv, "code,lat,lon\n").ok());
}

TEST(ReplayDataTest, AberdeenRowsAreSemicolonSeparatedAndMayMissOneValue) {
  const char* csv =
      "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n"
      "15092;SDS011;7647;56.963;-2.211;2019-04-01T00:03:54;6.73;;;2.10;;\n"
      "15092;SDS011;7647;56.963;-2.211;2019-04-01T00:01:25;9.77;;;;;\n"
      "16000;SDS011;7700;57.1;-2.1;2019-04-01T00:02:00;;;;;;\n"     // no value
      "16001,SDS011,7700,57.1,-2.1,2019-04-01T00:02:00,1,,,2,,\n";  // not ;-separated
  auto d = ParseAir(csv);
  ASSERT_TRUE(d.ok()) << d.status().detail();
  ASSERT_EQ(d->devices.size(), 1u);
  EXPECT_EQ(d->devices[0].id, "air-15092");
  EXPECT_DOUBLE_EQ(d->devices[0].lon, -2.211);
  EXPECT_EQ(d->bad, 2u);
  ASSERT_EQ(d->rows.size(), 2u);
  EXPECT_EQ(d->rows[0].at, At("2019-04-01T00:01:25Z"));
  EXPECT_DOUBLE_EQ(d->rows[0].a, 9.77);
  EXPECT_TRUE(std::isnan(d->rows[0].b));
  EXPECT_DOUBLE_EQ(d->rows[1].b, 2.10);
  EXPECT_FALSE(ParseAir("sensor_id,lat,lon,timestamp,P1,P2\n").ok());
}

TEST(ReplayDataTest, DatasetsOfDifferentYearsMergeByTheirOffsetFromTheirFirstRow) {
  DatasetRows traffic, air;
  traffic.dataset = Dataset::kTraffic;
  air.dataset = Dataset::kAir;
  const Micros t0 = At("2014-03-01T00:00:00Z"), a0 = At("2019-04-01T00:01:25Z");
  const Micros min = 60 * 1000000LL;
  traffic.rows = {{t0, Dataset::kTraffic, 0, 1, 0},
                  {t0 + 5 * min, Dataset::kTraffic, 0, 2, 0},
                  {t0 + 5 * min, Dataset::kTraffic, 1, 3, 0}};
  air.rows = {{a0, Dataset::kAir, 0, 10, 0},
              {a0 + 2 * min, Dataset::kAir, 0, 11, 0},
              {a0 + 5 * min, Dataset::kAir, 0, 12, 0}};
  std::vector<DatasetRows> sets = {air, traffic};  // order of the list does not matter
  auto m = MergeByOffset(sets);
  ASSERT_EQ(m.size(), 6u);
  std::vector<double> order;
  for (const auto& r : m) order.push_back(r.row->a);
  // Offset 0: traffic before air; 2 min: air; 5 min: traffic (file order), then air.
  EXPECT_EQ(order, (std::vector<double>{1, 10, 11, 2, 3, 12}));
  EXPECT_EQ(m[3].offset, 5 * min);
  EXPECT_EQ(m[2].offset, 2 * min);
}

TEST(ReplayDataTest, PacingDividesSimulatedTimeByTheSpeedup) {
  const Micros five_min = 300 * 1000000LL;
  EXPECT_DOUBLE_EQ(WallDueSeconds(five_min, 60), 5.0);
  EXPECT_DOUBLE_EQ(WallDueSeconds(five_min, 1), 300.0);
  EXPECT_DOUBLE_EQ(WallDueSeconds(7 * 86400 * 1000000LL, 3600), 168.0);
  EXPECT_DOUBLE_EQ(WallDueSeconds(five_min, 0), 0.0);  // as fast as possible
  EXPECT_DOUBLE_EQ(WallDueSeconds(0, 60), 0.0);
}

TEST(ReplayDataTest, ShippedDataParses) {
  const std::string dir = std::string(CIVITAS_SOURCE_DIR) + "/data/replay/";
  auto air = ReadMaybeGzip(dir + "sds011_pm_2019-04.csv.gz");
  ASSERT_TRUE(air.ok()) << air.status().detail();
  auto d = ParseAir(*air);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->devices.size(), 22u);
  EXPECT_GT(d->rows.size(), 300000u);
  EXPECT_LT(d->bad, d->rows.size() / 100);
  auto parking = ReadMaybeGzip(dir + "parking_2014.csv.gz");
  auto garages = ReadMaybeGzip(std::string(CIVITAS_SOURCE_DIR) + "/data/demo/garage_locations.csv");
  ASSERT_TRUE(parking.ok() && garages.ok());
  auto p = ParseParking(*parking, *garages);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->devices.size(), 8u);
  EXPECT_EQ(p->rows.size() + p->bad, 55264u);
  EXPECT_FALSE(ReadMaybeGzip(dir + "missing.csv.gz").ok());
}

}  // namespace
}  // namespace civitas::sim
