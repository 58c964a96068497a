#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace civitas::server {
namespace {

TEST(ConfigTest, FlagsOverrideEnvironmentOverrideDefaults) {
  ::setenv("CIVITAS_PORT", "2000", 1);
  ::setenv("CIVITAS_DATA", "/tmp/envdata", 1);
  auto c = ParseConfig({"--port", "3000", "--threads=2", "--context-preload",
                        "http://x/ctx.jsonld=/tmp/ctx.jsonld"});
  ::unsetenv("CIVITAS_PORT");
  ::unsetenv("CIVITAS_DATA");
  ASSERT_TRUE(c.ok()) << c.status().detail();
  EXPECT_EQ(c->port, 3000);
  EXPECT_EQ(c->threads, 2);
  EXPECT_EQ(c->data_dir, "/tmp/envdata");
  ASSERT_EQ(c->context_preloads.size(), 1u);
  EXPECT_EQ(c->context_preloads[0].first, "http://x/ctx.jsonld");
  EXPECT_EQ(c->context_preloads[0].second, "/tmp/ctx.jsonld");
  EXPECT_TRUE(c->sync);
}

TEST(ConfigTest, RejectsBadValues) {
  EXPECT_FALSE(ParseConfig({"--port", "70000"}).ok());
  EXPECT_FALSE(ParseConfig({"--port"}).ok());
  EXPECT_FALSE(ParseConfig({"--nope", "1"}).ok());
  EXPECT_FALSE(ParseConfig({"--fsync", "maybe"}).ok());
  EXPECT_FALSE(ParseConfig({"serve"}).ok());
  ::setenv("CIVITAS_THREADS", "lots", 1);
  EXPECT_FALSE(ParseConfig({}).ok());
  ::unsetenv("CIVITAS_THREADS");
}

TEST(ConfigTest, MqttOptions) {
  ::setenv("CIVITAS_MQTT_PASSWORD", "from-env", 1);
  auto c = ParseConfig({"--mqtt", "mqtt://127.0.0.1:1884", "--mqtt-username", "civ",
                        "--mqtt-client-id=city-broker", "--mqtt-qos", "0"});
  ::unsetenv("CIVITAS_MQTT_PASSWORD");
  ASSERT_TRUE(c.ok()) << c.status().detail();
  EXPECT_EQ(c->mqtt_url, "mqtt://127.0.0.1:1884");
  EXPECT_EQ(c->mqtt_username, "civ");
  EXPECT_EQ(c->mqtt_password, "from-env");
  EXPECT_EQ(c->mqtt_client_id, "city-broker");
  EXPECT_EQ(c->mqtt_qos, 0);
  EXPECT_TRUE(ParseConfig({}).value().mqtt_url.empty());  // off by default
  EXPECT_FALSE(ParseConfig({"--mqtt", "tcp://x"}).ok());
  EXPECT_FALSE(ParseConfig({"--mqtt-qos", "2"}).ok());
}

}  // namespace
}  // namespace civitas::server
