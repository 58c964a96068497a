// Unit tests of the MQTT URL and topic parsing; the client against a real mosquitto is tested in
// tests/mqtt.
#include "ingest/mqtt_source.h"

#include <gtest/gtest.h>

namespace civitas::ingest {
namespace {

TEST(MqttUrl, HostPortCredentialsAndTls) {
  auto o = ParseMqttUrl("mqtt://broker.city:1884");
  ASSERT_TRUE(o.ok()) << o.status().detail();
  EXPECT_EQ(o->host, "broker.city");
  EXPECT_EQ(o->port, 1884);
  EXPECT_FALSE(o->tls);
  o = ParseMqttUrl("mqtts://user:s3cret@10.0.0.1");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->tls);
  EXPECT_EQ(o->port, 8883);
  EXPECT_EQ(o->username, "user");
  EXPECT_EQ(o->password, "s3cret");
  EXPECT_EQ(o->host, "10.0.0.1");
  o = ParseMqttUrl("mqtt://[::1]:1883/");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->host, "::1");
  EXPECT_EQ(ParseMqttUrl("mqtt://localhost")->port, 1883);
}

TEST(MqttUrl, Rejects) {
  EXPECT_FALSE(ParseMqttUrl("http://x").ok());
  EXPECT_FALSE(ParseMqttUrl("mqtt://").ok());
  EXPECT_FALSE(ParseMqttUrl("mqtt://x:0").ok());
  EXPECT_FALSE(ParseMqttUrl("mqtt://x:99999").ok());
  EXPECT_FALSE(ParseMqttUrl("mqtt://x:port").ok());
  EXPECT_FALSE(ParseMqttUrl("mqtt://:pw@x").ok());
  auto bad = ParseMqttUrl("mqtt://user:s3cret@host:notaport");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().detail().find("s3cret"), std::string::npos) << bad.status().detail();
}

TEST(DeviceTopic, TheIotAgentForms) {
  auto t = ParseDeviceTopic("/json/key1/dev1/attrs");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->format, PayloadFormat::kJson);
  EXPECT_EQ(t->apikey, "key1");
  EXPECT_EQ(t->device_id, "dev1");
  t = ParseDeviceTopic("ul/key1/dev1/attrs");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t->format, PayloadFormat::kUltralight);
  t = ParseDeviceTopic("/key1/dev1/attrs");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->format.has_value());
  EXPECT_EQ(t->apikey, "key1");
  EXPECT_FALSE(ParseDeviceTopic("/json/key1/attrs/x"));
  EXPECT_FALSE(ParseDeviceTopic("//dev/attrs"));
  EXPECT_FALSE(ParseDeviceTopic("/k/d/cmdexe"));
  EXPECT_FALSE(ParseDeviceTopic(""));
}

}  // namespace
}  // namespace civitas::ingest
