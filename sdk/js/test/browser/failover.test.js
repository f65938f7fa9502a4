// 1. Nearest edge: three real edges behind delay proxies (10 / 60 / 120 ms each way). The page
// connects to the fastest; that one then stops answering (its acks are lost: it stores frames
// the page never hears about) and dies; the page moves to the next region and sends what is
// unacknowledged again, so both regions' raw files hold those frames. The lake compaction binary
// (sentientiq-lake-compact) over both regions' lakes then holds every frame the page produced,
// each (session, seq) exactly once.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import { rmSync, writeFileSync } from 'node:fs'
import * as h from './harness.js'

const skip = h.missing({ compact: true }) || false
let edges = []
let proxies = []
let srv
let browser
let compacted

before(async () => {
  if (skip) return
  const regions = [
    ['us-east-1', 10],
    ['us-west-2', 60],
    ['eu-west-1', 120],
  ]
  edges = await Promise.all(regions.map(([region]) => h.startEdge({ region })))
  proxies = await Promise.all(edges.map((e, i) => h.delayProxy(e.port, regions[i][1])))
  srv = await h.pageServer()
  browser = await h.launch()
})

after(async () => {
  await browser?.close()
  await srv?.close()
  for (const p of proxies) p.kill()
  for (const e of edges) await e.stop()
  for (const e of edges) h.cleanup(e)
  if (compacted) rmSync(compacted, { recursive: true, force: true })
})

test('nearest edge, failover after lost acks; compacted across regions each (session, seq) is once', { skip, timeout: 90000 }, async () => {
  // Listed slowest first: the order of the list must not matter, only the measured latency.
  const list = [proxies[2].url, proxies[1].url, proxies[0].url]
  const url = srv.page('/failover', h.shopPage({ sdk: h.sdkTag({ edges: list }) }))
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  const rec = h.record(page, decode)
  await page.goto(url)
  const s0 = await h.until(() => page.evaluate(() => SentientIQ.state()?.region && SentientIQ.state()), 'a welcome')
  assert.equal(s0.edge, proxies[0].url, 'the 10 ms edge wins')
  assert.equal(s0.region, 'us-east-1')
  // The ranking is remembered for the next page load.
  const cached = await h.until(() => page.evaluate(() => JSON.parse(localStorage.getItem('siq:edges'))), 'the ranking (all probes answered)')
  assert.deepEqual(cached.r, [proxies[0].url, proxies[1].url, proxies[2].url], `ranked by warm round trip (${JSON.stringify(cached.m)})`)

  const activity = async (n) => {
    for (let i = 0; i < n; i++) {
      await page.mouse.move(100 + ((i * 37) % 700), 120 + ((i * 53) % 400), { steps: 4 })
      if (i % 5 == 0) await page.mouse.click(300 + i, 500)
    }
  }
  const state = () => page.evaluate(() => SentientIQ.state())
  const accepted = async (e) => (await e.metrics()).siq_frames_total || 0
  await activity(40)
  await h.until(async () => (await state()).unacked == 0, 'everything acked by us-east-1')
  const before = await state()

  // us-east-1 stops answering: the page's frames still reach it and are stored, their acks are
  // lost. Then it dies (its network path goes away; the edge keeps shipping its lake).
  proxies[0].mute()
  await activity(20)
  const muted = await state()
  await h.until(async () => (await accepted(edges[0])) >= muted.seq, `us-east-1 stored up to seq ${muted.seq}`)
  assert.ok(muted.unacked > 0 && muted.ack < muted.seq, `stored at us-east-1 but not acknowledged: ${JSON.stringify(muted)}`)
  proxies[0].kill()
  await activity(30) // produced while there is no edge
  const s1 = await h.until(async () => (await state())?.region == 'us-west-2' && state(), 'failover to us-west-2', 20000)
  assert.equal(s1.edge, proxies[1].url)
  await activity(30)
  await h.until(async () => (await state()).unacked == 0, 'everything acked by us-west-2')
  const last = await state()
  assert.ok(last.seq > muted.seq, 'frames were produced after the failover')
  const sid = last.sid
  await page.close({ runBeforeUnload: true })
  await ctx.close()
  assert.deepEqual(rec.errors, [])

  // What the edges stored, file by file: the union of the raw lakes is 1..max; the frames
  // us-east-1 stored without its acks arriving are in us-west-2's files too.
  const rows = await h.until(async () => {
    const all = (await Promise.all(edges.map((e) => e.rows({ session: sid })))).flat()
    const c = h.conservation(all)
    const east = new Set(all.filter((r) => r.file.startsWith(edges[0].lake)).map((r) => Number(r.seq)))
    return c.max > last.seq && c.missing.length == 0 && east.has(muted.seq) && all
  }, 'every frame in the raw lakes', 20000)
  const per = edges.map((e) => rows.filter((r) => r.file.startsWith(e.lake)))
  const seqsOf = (rs) => new Set(rs.map((r) => Number(r.seq)))
  const [a, b, c] = per.map(seqsOf)
  const cross = [...a].filter((q) => b.has(q))
  const c1 = h.conservation(per[0])
  const c2 = h.conservation(per[1])
  assert.equal(c1.duplicates, 0, 'no duplicate within us-east-1')
  assert.equal(c2.duplicates, 0, 'no duplicate within us-west-2')
  assert.equal(c.size, 0, 'the 120 ms edge was never used')
  assert.ok(a.size >= muted.seq, 'us-east-1 holds everything it stored, acknowledged or not')
  assert.ok(b.size > 0, 'us-west-2 holds the rest')
  for (let q = muted.ack + 1; q <= muted.seq; q++) assert.ok(a.has(q) && b.has(q), `seq ${q} (unacknowledged at us-east-1) is in both regions' raw files`)
  const rawDup = rows.length - new Set(rows.map((r) => `${r.seq}/${r.idx}`)).size

  // Compaction over both regions' lakes: each (session, seq) once, from one copy; none missing.
  const comp = await h.compactLakes(edges.map((e) => e.lake))
  compacted = comp.dir
  const mine = comp.rows.filter((r) => r.session == sid)
  const cc = h.conservation(mine)
  const copies = new Map()
  for (const r of mine) {
    const k = Number(r.seq)
    if (!copies.has(k)) copies.set(k, new Set())
    copies.get(k).add(`${r.region}/${r.edge}/${r.shard}`)
  }
  const mixed = [...copies].filter(([, v]) => v.size > 1).map(([k]) => k)
  const figures = {
    frames: last.seq,
    stored_max_seq: cc.max,
    acked_by_us_east_1: muted.ack,
    unacked_at_failover: muted.seq - muted.ack,
    us_east_1_frames: a.size,
    us_west_2_frames: b.size,
    eu_west_1_frames: c.size,
    raw_frames_in_both_regions: cross.length,
    raw_duplicate_rows: rawDup,
    compacted_rows: mine.length,
    compacted_duplicate_rows: cc.duplicates,
    compacted_missing: cc.missing.length,
    hours: comp.hours,
  }
  writeFileSync(h.artifact('failover.json'), JSON.stringify({ ...figures, compaction: comp.out }, null, 2) + '\n')
  console.log(
    `# failover: ${last.seq} frames before close (+ the pagehide ones); us-east-1 stored ${a.size} frames (acked 1..${muted.ack}, ` +
      `then ${muted.seq - muted.ack} unacknowledged), us-west-2 ${b.size}, eu-west-1 ${c.size}; raw: ${cross.length} frames in both regions ` +
      `(${rawDup} duplicate rows); compacted: ${mine.length} rows, seq 1..${cc.max}, ${cc.duplicates} duplicates, ${cc.missing.length} missing`,
  )
  for (const line of comp.out.trim().split('\n')) console.log('#   ' + line)
  assert.ok(cross.length > 0 && rawDup > 0, 'the raw files hold copies across regions (what compaction is for)')
  assert.deepEqual(cc.missing, [], 'compacted: no frame missing')
  assert.equal(cc.duplicates, 0, 'compacted: no (session, seq, idx) twice')
  assert.deepEqual(mixed, [], 'compacted: each frame from one copy')
  assert.equal(cc.max, h.conservation(rows).max, 'compacted: the same frames as the raw files')
  assert.equal(mine.length, rows.length - rawDup, 'compacted: every row once, and only the copies gone')
  assert.ok(cross.every((q) => copies.get(q)?.size == 1))
})
