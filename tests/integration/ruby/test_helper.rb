# Shared set-up for the ruby-redis tests (run by ../test_ruby_client.py).
#
# The server under test is started by pytest, which passes its port in
# STASHD_PORT; each *_test.rb file is run as its own ruby process, so a
# new area (transactions, hashes, ...) is one more file here: require this
# helper, subclass StashdTest, and pytest picks the file up.
require "minitest/autorun"
require "redis"

class StashdTest < Minitest::Test
  def setup
    @r = Redis.new(host: "127.0.0.1", port: Integer(ENV.fetch("STASHD_PORT")), timeout: 5)
    @r.flushall
  end

  def teardown
    @r&.close
  end

  # A second client, closed at teardown by the caller's ensure.
  def connect
    Redis.new(host: "127.0.0.1", port: Integer(ENV.fetch("STASHD_PORT")), timeout: 5)
  end
end
