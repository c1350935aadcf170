# Transactions (MULTI/EXEC/DISCARD, WATCH/UNWATCH) and numbered databases
# through ruby-redis (issue 15).
require "socket"
require_relative "test_helper"

class TransactionsTest < StashdTest
  # One memcached text command on its own connection; the reply's first line.
  def memcached(line)
    s = TCPSocket.new("127.0.0.1", Integer(ENV.fetch("STASHD_PORT")))
    s.write(line)
    s.gets
  ensure
    s&.close
  end

  def test_multi_exec
    res = @r.multi do |tx|
      tx.set("a", "1")
      tx.incr("a")
      tx.get("a")
      tx.mget("a", "nokey")
      tx.del("a")
    end
    assert_equal ["OK", 2, "2", ["2", nil], 1], res
    assert_nil @r.get("a")
  end

  def test_runtime_error_stays_with_its_command
    @r.set("s", "x")
    err = assert_raises(Redis::CommandError) do
      @r.multi do |tx|
        tx.set("t", "1")
        tx.incr("s")
      end
    end
    assert_match(/not an integer/, err.message)
    assert_equal "1", @r.get("t") # the other command ran
  end

  def test_queueing_error_aborts
    err = assert_raises(Redis::CommandError) do
      @r.multi do |tx|
        tx.set("q", "1")
        tx.call("get") # wrong number of arguments while queueing
      end
    end
    assert_match(/EXECABORT|wrong number of arguments/, err.message)
    assert_nil @r.get("q")
  end

  def test_discard_and_nesting
    assert_equal "OK", @r.call("multi")
    err = assert_raises(Redis::CommandError) { @r.call("multi") }
    assert_equal "ERR MULTI calls can not be nested", err.message
    err = assert_raises(Redis::CommandError) { @r.call("watch", "k") }
    assert_equal "ERR WATCH inside MULTI is not allowed", err.message
    assert_equal "QUEUED", @r.call("set", "k", "v")
    assert_equal "OK", @r.call("discard")
    assert_nil @r.get("k")
    err = assert_raises(Redis::CommandError) { @r.call("exec") }
    assert_equal "ERR EXEC without MULTI", err.message
  end

  def test_watch_unchanged_runs
    @r.set("k", "1")
    res = @r.watch("k") do
      v = Integer(@r.get("k"))
      @r.multi { |tx| tx.set("k", (v + 1).to_s) }
    end
    assert_equal ["OK"], res
    assert_equal "2", @r.get("k")
  end

  def test_watch_aborts_on_a_resp_write
    other = connect
    @r.set("k", "1")
    res = @r.watch("k") do
      other.set("k", "5")
      @r.multi { |tx| tx.set("k", "2") }
    end
    assert_nil res
    assert_equal "5", @r.get("k")
  ensure
    other&.close
  end

  def test_watch_aborts_on_memcached_writes
    ["set k 0 0 1\r\n9\r\n", "touch k 100\r\n", "incr k 1\r\n", "delete k\r\n",
     "flush_all\r\n"].each do |line|
      @r.set("k", "1")
      res = @r.watch("k") do
        refute_nil memcached(line)
        @r.multi { |tx| tx.set("tx", "ran") }
      end
      assert_nil res, line
    end
    assert_nil @r.get("tx")
  end

  def test_watch_aborts_on_expiry
    @r.set("k", "1", px: 200)
    res = @r.watch("k") do
      sleep 0.5
      @r.multi { |tx| tx.set("tx", "ran") }
    end
    assert_nil res
  end

  def test_unwatch
    other = connect
    @r.set("k", "1")
    @r.watch("k")
    other.set("k", "2")
    assert_equal "OK", @r.unwatch
    assert_equal ["2"], @r.multi { |tx| tx.get("k") }
  ensure
    other&.close
  end

  def test_retry_loop_under_concurrent_writers
    @r.set("ctr", "0")
    threads = 3.times.map do
      Thread.new do
        c = connect
        50.times do
          loop do
            done = c.watch("ctr") do
              v = Integer(c.get("ctr"))
              c.multi { |tx| tx.set("ctr", (v + 1).to_s) }
            end
            break unless done.nil?
          end
        end
        c.close
      end
    end
    threads << Thread.new { 100.times { memcached("incr ctr 1\r\n") } }
    threads.each(&:join)
    assert_equal 250, Integer(@r.get("ctr"))
  end

  def test_databases
    one = Redis.new(host: "127.0.0.1", port: Integer(ENV.fetch("STASHD_PORT")), db: 1,
                    timeout: 5)
    one.set("k", "one")
    @r.set("k", "zero")
    assert_equal "one", one.get("k")
    assert_equal 1, one.dbsize
    assert_equal true, one.move("k", 2)
    assert_equal "OK", @r.swapdb(0, 2)
    assert_equal "one", @r.get("k")
    # memcached's protocols use database 0 as RESP's clients name it.
    assert_equal "VALUE k 0 3\r\n", memcached("get k\r\n")
    res = @r.multi do |tx|
      tx.select(1)
      tx.set("in1", "v")
      tx.select(0)
    end
    assert_equal %w[OK OK OK], res
    assert_equal "v", one.get("in1")
  ensure
    one&.close
  end
end
