/// The session page's player, served as /assets/player.js (the only script besides xterm.js).
/// It fetches the recording as JSON lines, chunk by chunk, and starts on the first; terminal
/// output is only ever written into xterm.js (data), and marker labels only as textContent.
/// A live session is fetched again from its last chunk every second.
enum PlayerScript {
    static let source = #"""
        (function () {
          'use strict';
          var root = document.getElementById('player');
          if (!root || typeof Terminal !== 'function') return;
          function $(id) { return document.getElementById(id); }
          var id = root.getAttribute('data-session');
          var term = new Terminal({ cols: +root.getAttribute('data-cols') || 80, rows: +root.getAttribute('data-rows') || 24,
                                    disableStdin: true, scrollback: 10000, cursorBlink: false });
          term.open($('terminal'));
          var frames = [], eff = [];          // [t, code, text]; t with long pauses cut to the idle limit
          var lastSeq = -1, ended = false, begun = false, dropped = '';
          var pos = 0, clock = 0, playing = false, last = 0, timer = null, mirrorTimer = null;
          var speed = 1, idle = 2;
          var start = root.getAttribute('data-start'), startDone = !start;
          var autoplay = root.getAttribute('data-autoplay') === '1';

          function gap(i) { var d = frames[i][0] - (i ? frames[i - 1][0] : 0); return idle > 0 ? Math.min(d, idle) : d; }
          function push(f) { var i = frames.length; frames.push(f); eff.push((i ? eff[i - 1] : 0) + gap(i)); }
          function total() { return eff.length ? eff[eff.length - 1] : 0; }
          function recompute() {
            var real = realNow();
            for (var i = 0; i < frames.length; i++) eff[i] = (i ? eff[i - 1] : 0) + gap(i);
            clock = effAt(real);
          }
          function realNow() { return pos ? frames[pos - 1][0] + Math.max(0, clock - eff[pos - 1]) : clock; }
          function effAt(t) {
            var lo = 0, hi = frames.length;
            while (lo < hi) { var mid = (lo + hi) >> 1; if (frames[mid][0] < t) lo = mid + 1; else hi = mid; }
            if (lo === 0) return idle > 0 ? Math.min(t, idle) : t;
            var d = t - frames[lo - 1][0];
            return eff[lo - 1] + (idle > 0 ? Math.min(d, idle) : d);
          }
          function fmt(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + ':' + ('0' + s % 60).slice(-2); }

          function drawUntil(c) {
            var out = '';
            while (pos < frames.length && eff[pos] <= c) {
              var f = frames[pos++];
              if (f[1] === 'o') { out += f[2]; continue; }
              if (f[1] === 'r') {
                var m = /^(\d+)x(\d+)$/.exec(f[2]);
                if (out) { term.write(out); out = ''; }
                if (m && +m[1] > 0 && +m[2] > 0) term.resize(+m[1], +m[2]);
              } else if (f[1] === 'm') {
                $('status').textContent = f[2];
              }
            }
            if (out) term.write(out);
            show();
          }
          function show() {
            $('seek').max = String(total());
            $('seek').value = String(clock);
            $('clock').textContent = fmt(clock) + ' / ' + fmt(total()) + (ended ? '' : ' (recording)');
            if (!mirrorTimer) mirrorTimer = setTimeout(mirror, 200);
          }
          // The screen as text, for reading, copying and screen readers.
          function mirror() {
            mirrorTimer = null;
            term.selectAll();
            $('screen-text').textContent = term.getSelection();
            term.clearSelection();
          }
          function tick() {
            timer = null;
            if (!playing) return;
            var now = performance.now();
            clock += (now - last) / 1000 * speed;
            last = now;
            drawUntil(clock);
            if (pos >= frames.length) {
              if (ended) { clock = total(); show(); pause(); $('status').textContent = 'end' + (dropped ? ' (not shown: ' + dropped + ')' : ''); return; }
              timer = setTimeout(tick, 250);
              return;
            }
            timer = setTimeout(tick, Math.max(0, Math.min((eff[pos] - clock) / speed * 1000, 1000)));
          }
          function play() {
            if (playing) return;
            if (ended && clock >= total()) seek(0);
            playing = true; last = performance.now(); $('play').textContent = 'Pause'; tick();
          }
          function pause() { playing = false; if (timer) clearTimeout(timer); timer = null; $('play').textContent = 'Play'; }
          function seek(c) {
            term.reset();
            pos = 0; clock = Math.max(0, c); last = performance.now();
            drawUntil(clock);
          }

          function line(text) {
            if (!text) return;
            var o = JSON.parse(text);
            if (o.end) { ended = o.ended; lastSeq = o.seq; dropped = o.dropped || ''; return; }
            lastSeq = o.seq;
            for (var i = 0; i < o.frames.length; i++) push(o.frames[i]);
            if (!startDone && frames.length && frames[frames.length - 1][0] >= +start) { startDone = true; seek(effAt(+start)); }
            if (!begun) { begun = true; $('status').textContent = 'ready'; if (autoplay) play(); }
            show();
          }
          function load() {
            fetch('/sessions/' + encodeURIComponent(id) + '/recording?after=' + lastSeq, { credentials: 'same-origin' })
              .then(function (r) {
                if (!r.ok) throw new Error('HTTP ' + r.status);
                var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = '';
                function pump() {
                  return reader.read().then(function (x) {
                    if (x.done) { line(buffer); return; }
                    buffer += decoder.decode(x.value, { stream: true });
                    var k;
                    while ((k = buffer.indexOf('\n')) >= 0) { line(buffer.slice(0, k)); buffer = buffer.slice(k + 1); }
                    return pump();
                  });
                }
                return pump();
              })
              .then(function () {
                if (!startDone) { startDone = true; seek(effAt(+start)); }
                if (!begun) { begun = true; $('status').textContent = frames.length ? 'ready' : 'nothing recorded'; if (autoplay) play(); }
                show();
                if (!ended) setTimeout(load, 1000);
              }, function (e) { $('status').textContent = 'the recording cannot be loaded: ' + e.message; });
          }

          $('play').addEventListener('click', function () { if (playing) pause(); else play(); });
          $('speed').addEventListener('change', function () { speed = +this.value || 1; });
          $('idle').addEventListener('change', function () { idle = +this.value; recompute(); seek(clock); });
          $('seek').addEventListener('input', function () { seek(+this.value); });
          $('next').addEventListener('click', function () {
            var now = realNow() + 0.001, links = document.querySelectorAll('#timeline li.command a.seek');
            for (var i = 0; i < links.length; i++) {
              var t = +links[i].getAttribute('data-t');
              if (t > now) { seek(effAt(t)); return; }
            }
          });
          $('timeline').addEventListener('click', function (e) {
            var a = e.target.closest ? e.target.closest('a.seek') : null;
            if (!a) return;
            e.preventDefault();
            seek(effAt(+a.getAttribute('data-t')));
          });
          document.addEventListener('keydown', function (e) {
            if (e.key === ' ' && e.target === document.body) { e.preventDefault(); if (playing) pause(); else play(); }
          });
          var s = +$('speed').value; if (s) speed = s;
          idle = +$('idle').value;
          load();
        })();
        """#
}
