# Hashes through ruby-redis (issue 15): every H* command as redis-rb's
# helpers send and convert it, WRONGTYPE both ways, TYPE, expiry of the
# whole key.
require_relative "test_helper"

class HashesTest < StashdTest
  WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value".freeze

  def test_set_get_and_read_all
    assert_equal 2, @r.hset("h", "a", "1", "b", "2")
    assert_equal 1, @r.hset("h", { "b" => "3", "c" => "4" })
    assert_equal "OK", @r.hmset("h", "d", "5")
    assert_equal "OK", @r.mapped_hmset("h", { "e" => "6" })
    assert_equal "3", @r.hget("h", "b")
    assert_nil @r.hget("h", "zz")
    assert_equal ["1", nil, "4"], @r.hmget("h", "a", "zz", "c")
    assert_equal({ "a" => "1", "zz" => nil }, @r.mapped_hmget("h", "a", "zz"))
    assert_equal({ "a" => "1", "b" => "3", "c" => "4", "d" => "5", "e" => "6" }, @r.hgetall("h"))
    assert_equal %w[a b c d e], @r.hkeys("h")
    assert_equal %w[1 3 4 5 6], @r.hvals("h")
    assert_equal({}, @r.hgetall("nokey"))
    assert_equal "hash", @r.type("h")
  end

  def test_setnx_del_exists_len_strlen
    assert_equal true, @r.hsetnx("h", "a", "1")
    assert_equal false, @r.hsetnx("h", "a", "2")
    @r.hset("h", "b", "222")
    assert_equal 2, @r.hlen("h")
    assert_equal true, @r.hexists("h", "b")
    assert_equal false, @r.hexists("h", "zz")
    assert_equal 3, @r.call("hstrlen", "h", "b")
    assert_equal 1, @r.hdel("h", "a", "zz")
    assert_equal 1, @r.hdel("h", ["b"])
    assert_equal false, @r.exists?("h")
  end

  def test_incr
    assert_equal 5, @r.hincrby("h", "n", 5)
    assert_equal(-2, @r.hincrby("h", "n", -7))
    assert_in_delta 1.6, @r.hincrbyfloat("h", "f", 1.6), 1e-9
    assert_equal "1.6", @r.hget("h", "f")
    @r.hset("h", "s", "abc")
    err = assert_raises(Redis::CommandError) { @r.hincrby("h", "s", 1) }
    assert_equal "ERR hash value is not an integer", err.message
  end

  def test_randfield_and_scan
    fields = (0...30).to_h { |i| ["f#{i}", "v#{i}"] }
    @r.mapped_hmset("h", fields)
    assert_includes fields.keys, @r.hrandfield("h")
    picks = @r.hrandfield("h", 5)
    assert_equal 5, picks.uniq.size
    assert((picks - fields.keys).empty?)
    pairs = @r.hrandfield("h", -8, with_values: true)
    assert_equal 8, pairs.size
    pairs.each { |f, v| assert_equal fields[f], v }
    cursor, page = @r.hscan("h", 0, match: "f1*")
    assert_equal "0", cursor
    assert_equal fields.select { |k, _| k.start_with?("f1") }.to_a.sort, page.sort
    assert_equal fields, @r.hscan_each("h", count: 7).to_h
    assert_nil @r.hrandfield("nokey")
  end

  def test_wrongtype_both_ways
    @r.set("s", "str")
    @r.hset("h", "f", "v")
    [-> { @r.hget("s", "f") }, -> { @r.hset("s", "f", "v") }, -> { @r.hgetall("s") },
     -> { @r.get("h") }, -> { @r.incr("h") }, -> { @r.append("h", "x") },
     -> { @r.setbit("h", 1, 1) }].each do |call|
      err = assert_raises(Redis::CommandError) { call.call }
      assert_equal WRONGTYPE, err.message
    end
    assert_equal "OK", @r.set("h", "now a string")
    assert_equal "string", @r.type("h")
  end

  def test_expiry_takes_the_whole_hash
    @r.hset("h", "a", "1", "b", "2")
    assert_equal true, @r.pexpire("h", 200)
    sleep 0.5
    assert_equal 0, @r.hlen("h")
    assert_equal false, @r.exists?("h")
  end

  def test_pipelined
    replies = @r.pipelined do |p|
      p.hset("h", "a", "1")
      p.hincrby("h", "a", 2)
      p.hgetall("h")
    end
    assert_equal [1, 3, { "a" => "3" }], replies
  end
end
