# Keyspace inspection, CLIENT KILL and command statistics through
# ruby-redis (issue 15).
require_relative "test_helper"

class KeyspaceTest < StashdTest
  def test_touch
    @r.mset("a", "1", "b", "2")
    assert_equal 2, @r.touch("a", "b", "nokey")
  end

  def test_object
    @r.mset("i", "42", "s", "hello", "r", "x" * 100)
    assert_equal "int", @r.object("encoding", "i")
    assert_equal "embstr", @r.object("encoding", "s")
    assert_equal "raw", @r.object("encoding", "r")
    assert_nil @r.object("encoding", "nokey")
    assert_equal 1, @r.object("refcount", "s")
    assert_operator @r.object("idletime", "s"), :<=, 1
    assert_raises(Redis::CommandError) { @r.object("freq", "s") }
  end

  def test_memory_usage
    @r.set("v", "x" * 1000)
    used = @r.call("memory", "usage", "v")
    assert_operator used, :>, 1000
    assert_operator used, :<, 1400
    assert_nil @r.call("memory", "usage", "nokey")
  end

  def test_client_kill
    other = connect
    id = other.client(:id)
    assert_equal 1, @r.client(:kill, "ID", id)
    assert_raises(Redis::BaseConnectionError) do
      other.without_reconnect { other.ping }
    end
    other.close
    err = assert_raises(Redis::CommandError) { @r.client(:kill, "1.2.3.4:5") }
    assert_equal "ERR No such client", err.message
    assert_equal "PONG", @r.ping
  end

  def test_commandstats
    @r.call("config", "resetstat")
    @r.set("k", "v")
    @r.get("k")
    assert_raises(Redis::CommandError) { @r.call("setbit", "k", -1, 1) }
    stats = @r.info("commandstats")
    assert_equal "1", stats["set"]["calls"]
    assert_equal "1", stats["setbit"]["failed_calls"]
    assert_match(/count=1/, @r.info("errorstats")["errorstat_ERR"])
  end
end
