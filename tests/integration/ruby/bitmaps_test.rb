# Bitmaps and LCS through ruby-redis (issue 15).
require_relative "test_helper"

class BitmapsTest < StashdTest
  def test_setbit_getbit
    assert_equal 0, @r.setbit("b", 7, 1)
    assert_equal 1, @r.setbit("b", 7, 1)
    assert_equal "\x01".b, @r.get("b").b
    assert_equal 1, @r.getbit("b", 7)
    assert_equal 0, @r.getbit("nokey", 100)
    err = assert_raises(Redis::CommandError) { @r.setbit("b", -1, 1) }
    assert_equal "ERR bit offset is not an integer or out of range", err.message
  end

  def test_bitcount_bitpos
    @r.set("k", "foobar")
    assert_equal 26, @r.bitcount("k")
    assert_equal 6, @r.bitcount("k", 1, 1)
    assert_equal 17, @r.call("bitcount", "k", 5, 30, "BIT")
    @r.set("p", "\xff\xf0\x00".b)
    assert_equal 12, @r.bitpos("p", 0)
    assert_equal(-1, @r.bitpos("p", 1, 2))
    assert_equal(-1, @r.call("bitpos", "p", 0, 0, 11, "BIT"))
  end

  def test_bitop
    @r.set("a", "\xff\x0f".b)
    @r.set("b", "\x0f".b)
    assert_equal 2, @r.bitop("and", "d", "a", "b")
    assert_equal "\x0f\x00".b, @r.get("d").b
    assert_equal 2, @r.bitop("xor", "d", "a", "b")
    assert_equal "\xf0\x0f".b, @r.get("d").b
    assert_equal 0, @r.bitop("or", "d", "nokey")
    assert_equal false, @r.exists?("d")
  end

  def test_bitfield
    assert_equal [0, 100, -56],
                 @r.bitfield("f", "SET", "i8", 0, 100, "GET", "i8", 0, "INCRBY", "i8", 0, 100)
    assert_equal [-128], @r.bitfield("f", "OVERFLOW", "SAT", "INCRBY", "i8", 0, -300)
    assert_equal [nil], @r.bitfield("f", "OVERFLOW", "FAIL", "INCRBY", "i8", 0, -1)
    assert_equal [-128], @r.call("bitfield_ro", "f", "GET", "i8", 0)
    err = assert_raises(Redis::CommandError) { @r.call("bitfield_ro", "f", "SET", "i8", 0, 1) }
    assert_match(/BITFIELD_RO only supports the GET subcommand/, err.message)
  end

  def test_lcs
    @r.mset("k1", "ohmytext", "k2", "mynewtext")
    assert_equal "mytext", @r.call("lcs", "k1", "k2")
    assert_equal 6, @r.call("lcs", "k1", "k2", "LEN")
    assert_equal ["matches", [[[4, 7], [5, 8], 4]], "len", 6],
                 @r.call("lcs", "k1", "k2", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN")
  end
end
