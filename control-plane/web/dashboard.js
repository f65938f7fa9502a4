// SentientIQ dashboard: the EVI chart (inline SVG, no library) and the live alert and detection feed
// (server-sent events). Served by sentientiq-control from control-plane/web/, compiled in.
'use strict';
(function () {
  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777'];

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(e);
    return e;
  }

  function hhmm(minute) {
    var d = new Date(minute * 60000);
    return String(d.getUTCHours()).padStart(2, '0') + ':' + String(d.getUTCMinutes()).padStart(2, '0');
  }

  // points: [{region, minute, evi, active}], region "" is the global index.
  function drawChart(svg, legend, points) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 800, H = 260, L = 40, R = 24, T = 10, B = 30;
    var series = {};
    points.forEach(function (p) {
      if (typeof p.evi !== 'number' || p.evi < 0) return;
      var k = p.region || 'global';
      (series[k] = series[k] || []).push(p);
    });
    var minutes = points.map(function (p) { return p.minute; });
    var now = Math.floor(Date.now() / 60000);
    var x1 = minutes.length ? Math.max.apply(null, minutes.concat([now])) : now;
    var x0 = Math.min(x1 - 60, minutes.length ? Math.min.apply(null, minutes) : x1 - 60);
    var sx = function (m) { return L + (m - x0) / Math.max(1, x1 - x0) * (W - L - R); };
    var sy = function (v) { return T + (1 - v / 100) * (H - T - B); };
    [0, 25, 50, 75, 100].forEach(function (v) {
      el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid' }, svg);
      el('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end', class: 'tick' }, svg).textContent = v;
    });
    for (var i = 0; i <= 6; i++) {
      var m = Math.round(x0 + i * (x1 - x0) / 6);
      el('text', { x: sx(m), y: H - 8, 'text-anchor': 'middle', class: 'tick' }, svg).textContent = hhmm(m);
    }
    var names = Object.keys(series).sort(function (a, b) {
      return a === 'global' ? 1 : b === 'global' ? -1 : a < b ? -1 : 1;
    });
    if (legend) legend.textContent = '';
    if (!names.length) {
      el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, svg).textContent =
        'No EVI yet: edges report a window per minute';
    }
    names.forEach(function (name, i) {
      var color = name === 'global' ? '#111827' : COLORS[i % COLORS.length];
      var pts = series[name].sort(function (a, b) { return a.minute - b.minute; });
      var g = el('g', { class: 'series', 'data-region': name }, svg);
      el('polyline', {
        points: pts.map(function (p) { return sx(p.minute) + ',' + sy(p.evi); }).join(' '),
        fill: 'none', stroke: color, 'stroke-width': name === 'global' ? 3 : 2,
      }, g);
      pts.forEach(function (p) {
        var c = el('circle', { cx: sx(p.minute), cy: sy(p.evi), r: name === 'global' ? 4 : 3, fill: color, class: 'pt' }, g);
        el('title', {}, c).textContent = name + ' ' + hhmm(p.minute) + ' UTC: EVI ' + p.evi.toFixed(1) + ', ' + p.active + ' active session(s)';
      });
      if (legend) {
        var item = document.createElement('span');
        item.className = 'key';
        var sw = document.createElement('i');
        sw.className = 'swatch';
        sw.setAttribute('data-color', color);
        item.appendChild(sw);
        item.appendChild(document.createTextNode(name));
        legend.appendChild(item);
        // Colour the swatch through SVG (no inline style under the page's CSP).
        var s = el('svg', { width: 12, height: 12, viewBox: '0 0 12 12' });
        el('rect', { width: 12, height: 12, rx: 2, fill: color }, s);
        sw.appendChild(s);
      }
    });
    svg.setAttribute('data-points', String(names.reduce(function (n, k) { return n + series[k].length; }, 0)));
  }

  function initChart() {
    var svg = document.getElementById('evi-chart');
    if (!svg) return;
    var legend = document.getElementById('evi-legend');
    var data = [];
    try { data = JSON.parse(document.getElementById('evi-data').textContent || '[]'); } catch (e) { data = []; }
    drawChart(svg, legend, data);
    var src = svg.getAttribute('data-src');
    setInterval(function () {
      fetch(src, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (pts) {
          if (!pts) return;
          drawChart(svg, legend, pts);
          var g = pts.filter(function (p) { return p.region === ''; }).sort(function (a, b) { return b.minute - a.minute; })[0];
          if (g) document.getElementById('evi-global').textContent = g.evi.toFixed(1);
        }).catch(function () {});
    }, 15000);
  }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function initFeed() {
    var body = document.getElementById('feed');
    if (!body || !window.EventSource) return;
    var status = document.getElementById('feed-status');
    var empty = document.getElementById('feed-empty');
    var es = new EventSource(body.getAttribute('data-events'));
    es.addEventListener('ready', function () { status.textContent = 'live'; status.className = 'live'; });
    es.addEventListener('alert', function (ev) {
      var a;
      try { a = JSON.parse(ev.data); } catch (e) { return; }
      var tr = document.createElement('tr');
      tr.setAttribute('data-alert', a.id);
      tr.setAttribute('data-state', a.state);
      cell(tr, new Date(a.updated_ms || a.opened_ms).toISOString().replace('T', ' ').slice(0, 19));
      cell(tr, a.account || '(unknown account)');
      cell(tr, '$' + (a.value_cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), 'n');
      cell(tr, a.emotion);
      cell(tr, Number(a.confidence).toFixed(2), 'n');
      cell(tr, a.section || '—');
      var st = document.createElement('td');
      var pill = document.createElement('span');
      pill.className = 'state state-' + a.state;
      pill.textContent = a.state.replace('_', ' ');
      st.appendChild(pill);
      if (a.acked_by) st.appendChild(document.createTextNode(' by ' + a.acked_by));
      tr.appendChild(st);
      var old = body.querySelector('tr[data-alert="' + CSS.escape(a.id) + '"]');
      if (old) old.remove();
      body.insertBefore(tr, body.firstChild);
      if (empty) empty.hidden = true;
      while (body.children.length > 200) body.removeChild(body.lastChild);
    });
    var dets = document.getElementById('detections');
    var detsEmpty = document.getElementById('detections-empty');
    es.addEventListener('detection', function (ev) {
      var d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      if (!dets) return;
      var tr = document.createElement('tr');
      tr.setAttribute('data-sid', d.sid);
      cell(tr, new Date(d.at_ms).toISOString().replace('T', ' ').slice(0, 19));
      cell(tr, d.account || d.uid || '(anonymous)');
      cell(tr, '$' + (d.value_cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), 'n');
      cell(tr, d.emotion);
      cell(tr, Number(d.confidence).toFixed(2), 'n');
      cell(tr, d.section || '—');
      cell(tr, d.region);
      cell(tr, (d.done && d.done.length) ? d.done.join('; ') : 'nothing');
      dets.insertBefore(tr, dets.firstChild);
      if (detsEmpty) detsEmpty.hidden = true;
      while (dets.children.length > 200) dets.removeChild(dets.lastChild);
    });
    es.onerror = function () { status.textContent = 'reconnecting…'; status.className = ''; };
  }

  // The setup wizard's script tag: rebuilt as the edges' addresses are edited (the same shape
  // as web::wizard::script_tag), and copied with one click.
  function edgesOf(text) {
    return text.split(/[\s,]+/).map(function (u) { return u.replace(/\/+$/, ''); })
      .filter(function (u) { return /^https?:\/\/[A-Za-z0-9.:\/_~%\[\]-]+$/.test(u) && !/^https?:\/\/\//.test(u); });
  }

  function tagFor(key, edges) {
    if (!edges.length) return '<script src="https://EDGE/v1/sdk.js" data-key="' + key + '" async></' + 'script>';
    return '<script src="' + edges[0] + '/v1/sdk.js" data-key="' + key + '" data-edges="' + edges.join(',') + '" async></' + 'script>';
  }

  function initTag() {
    var box = document.querySelector('.tagbox');
    if (!box) return;
    var tag = document.getElementById('tag');
    var input = document.getElementById('tag-edges');
    var copied = document.getElementById('copied');
    var key = box.getAttribute('data-key');
    if (input) input.addEventListener('input', function () { tag.value = tagFor(key, edgesOf(input.value)); copied.textContent = ''; });
    document.getElementById('copy-tag').addEventListener('click', function () {
      var done = function () { copied.textContent = 'Copied to the clipboard.'; };
      var fallback = function () {
        tag.focus();
        tag.select();
        try { document.execCommand('copy'); done(); } catch (e) { copied.textContent = 'Select the tag and copy it.'; }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(tag.value).then(done, fallback);
      else fallback();
    });
  }

  // The wizard's last step: polls first.json until a session arrived.
  function initFirst() {
    var st = document.getElementById('first-status');
    if (!st || st.className === 'arrived') return;
    var src = st.getAttribute('data-src');
    var timer = setInterval(function () {
      fetch(src, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (j) {
          if (!j || !j.arrived) return;
          clearInterval(timer);
          st.textContent = j.text;
          st.className = 'arrived';
          st.setAttribute('data-region', j.region);
        }).catch(function () {});
    }, 1000);
  }

  // The simple alerting form: the secret only for webhooks.
  function initAlertsForm() {
    var kind = document.getElementById('kind');
    var secret = document.getElementById('secret');
    if (!kind || !secret) return;
    var sync = function () {
      var hide = kind.value !== 'webhook';
      secret.disabled = hide;
      secret.parentNode.querySelector('label[for=secret]').className = hide ? 'off' : '';
    };
    kind.addEventListener('change', sync);
    sync();
  }

  document.addEventListener('DOMContentLoaded', function () { initChart(); initFeed(); initTag(); initFirst(); initAlertsForm(); });
})();
