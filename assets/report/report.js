// report.html's charts: uPlot over the run's data, inlined by slacheck (src/report/html.rs) in <script id="data">.
// Hover shows every series' value at the cursor; drag on a chart zooms its time (double-click resets); a click
// on a legend entry hides or shows its series. The timeline's charts share one cursor and one zoom.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("data").textContent);
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22"];
  const LIMIT = "#d62728";
  // Scheduled outages are filled and observed failover episodes hatched (the same as timeline.png and the
  // legend's swatches in report.css), so that where both fall each still shows.
  const OUTAGE_FILL = "rgba(255,120,120,0.25)";
  const EPISODE_STROKE = "rgba(60,80,170,0.55)";
  function hatch(ctx) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8 * (window.devicePixelRatio || 1);
    const t = tile.getContext("2d");
    t.strokeStyle = EPISODE_STROKE;
    t.lineWidth = window.devicePixelRatio || 1;
    t.beginPath();
    // "/" lines, continued across the tile's corners so that tiles join.
    for (const [x0, y0, x1, y1] of [[0, tile.height, tile.width, 0], [-tile.width, tile.height, 0, 0], [tile.width, tile.height, 2 * tile.width, 0]]) {
      t.moveTo(x0, y0);
      t.lineTo(x1, y1);
    }
    t.stroke();
    return ctx.createPattern(tile, "repeat");
  }
  const sync = uPlot.sync("timeline");

  function width(el) {
    return Math.max(320, Math.min(1000, el.clientWidth || 1000));
  }

  function fmtMs(v) {
    if (v == null) return "–";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    if (v >= 10) return v.toFixed(1) + " ms";
    return v.toFixed(3) + " ms";
  }

  // Axis ticks: three significant digits, no trailing zeros; uPlot passes null for ticks it leaves unlabelled.
  function fmtTick(v) {
    if (v == null) return "";
    if (v >= 1000) return parseFloat((v / 1000).toPrecision(3)) + " s";
    return parseFloat(v.toPrecision(3)) + " ms";
  }

  function fmtCount(v) {
    return v == null ? "–" : String(Math.round(v * 100) / 100);
  }

  // Shades scheduled outages and the failover episodes found, behind the series.
  function shadePlugin() {
    return {
      hooks: {
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            for (const kind of ["outages", "episodes"]) {
              ctx.fillStyle = kind === "outages" ? OUTAGE_FILL : hatch(ctx);
              for (const [start, end] of data.shaded[kind]) {
                const x0 = u.valToPos(start, "x", true);
                const x1 = u.valToPos(end, "x", true);
                const left = Math.max(u.bbox.left, Math.min(x0, x1));
                const right = Math.min(u.bbox.left + u.bbox.width, Math.max(x0, x1));
                if (right > left) ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
              }
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  // Every time chart spans the same seconds, the last one to its end (a row's second t covers [t, t + 1)): the
  // run's own charts and the scraped panels, whose scrapes fall anywhere in it, line up.
  function runSeconds() {
    const t = data.timeline.t;
    return t.length ? [t[0], t[t.length - 1] + 1] : [0, 1];
  }

  function timelineChart(el, title, yLabel, names, columns, fmt) {
    const series = [{ label: "second", value: (u, v) => (v == null ? "–" : v + " s") }];
    names.forEach((name, i) => {
      series.push({ label: name, stroke: COLORS[i % COLORS.length], width: 1.5, value: (u, v) => fmt(v), spanGaps: false });
    });
    const opts = {
      title: title,
      width: width(el),
      height: 260,
      cursor: { sync: { key: sync.key, setSeries: true }, drag: { x: true, y: false } },
      scales: { x: { time: false, range: runSeconds() } },
      axes: [{ label: "seconds since start" }, { label: yLabel, size: 70 }],
      series: series,
      plugins: [shadePlugin()],
    };
    return new uPlot(opts, [data.timeline.t].concat(columns), el);
  }

  function nines(n) {
    if (n <= 0) return "0%";
    const pct = 100 * (1 - Math.pow(10, -n));
    const digits = Math.max(0, Math.ceil(n - 1e-9) - 2);
    return pct.toFixed(digits) + "%";
  }

  // Latency against percentile on a "nines" axis (x = −log10(1 − q)), log latency; SLA limits as red points.
  function spectrumChart(el, spectrum) {
    const series = [{ label: "percentile", value: (u, v) => (v == null ? "–" : nines(v)) }];
    const columns = [];
    spectrum.series.forEach((s, i) => {
      series.push({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2, value: (u, v) => fmtMs(v) });
      columns.push(s.ms);
    });
    spectrum.limits.forEach((limit) => {
      const column = spectrum.x.map((x) => (Math.abs(x - limit.x) < 1e-9 ? limit.ms : null));
      series.push({
        label: limit.name + " limit",
        stroke: LIMIT,
        width: 0,
        points: { show: true, size: 10, stroke: LIMIT, fill: LIMIT },
        value: () => fmtMs(limit.ms),
      });
      columns.push(column);
    });
    const ticks = [];
    for (let n = 0; n <= Math.ceil(spectrum.x[spectrum.x.length - 1]); n++) ticks.push(n);
    const opts = {
      title: spectrum.title,
      width: width(el),
      height: 320,
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [
        { label: "percentile", splits: () => ticks, values: (u, vals) => vals.map(nines) },
        { label: "latency (ms, log scale)", size: 80, values: (u, vals) => vals.map(fmtTick) },
      ],
      series: series,
    };
    return new uPlot(opts, [spectrum.x].concat(columns), el);
  }

  const charts = [];
  const t = data.timeline;
  if (t.t.length > 0) {
    // Each counted in the second its request was due; "sent" in the second it went out (the achieved rate).
    const rateNames = ["offered", "sent (by send second)", "ok", "failed (error or timeout)", "not sent", "failed over"];
    const rateColumns = [t.offered, t.sent, t.ok, t.failed, t.not_sent, t.failovers];
    if (data.goodput) {
      rateNames.push("good (met [sla] goodput)");
      rateColumns.push(t.good);
    }
    charts.push(
      timelineChart(
        document.getElementById("chart-rate"),
        "Requests per second (by the second each was due; sent: by the second it went out)",
        "requests / s",
        rateNames,
        rateColumns,
        fmtCount
      )
    );
    charts.push(
      timelineChart(
        document.getElementById("chart-latency"),
        "Latency per second, from intended send",
        "ms",
        ["p50", "p99"],
        [t.p50_ms, t.p99_ms],
        fmtMs
      )
    );
    if (data.tokens) {
      charts.push(
        timelineChart(
          document.getElementById("chart-tokens"),
          "Tokens per second (of the requests due in each second that were answered)",
          "tokens / s",
          ["input", "output"],
          [t.input_tokens, t.output_tokens],
          fmtCount
        )
      );
    }
    // The target's own metrics ([[scrape]] show): each panel on its scrapes' times, over the run's seconds; a
    // counter's rate per second holds from the scrape before to its own (a step), a gauge is drawn through.
    (data.scraped || []).forEach((panel, i) => {
      const el = document.getElementById("chart-scraped-" + i);
      const series = [{ label: "second", value: (u, v) => (v == null ? "–" : v.toFixed(2) + " s") }];
      panel.names.forEach((name, j) => {
        const line = { label: name, stroke: COLORS[j % COLORS.length], width: 1.5, value: (u, v) => fmtCount(v) };
        if (panel.stepped) line.paths = uPlot.paths.stepped({ align: -1 });
        series.push(line);
      });
      const opts = {
        title: panel.title,
        width: width(el),
        height: 220,
        cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
        scales: { x: { time: false, range: runSeconds() } },
        axes: [{ label: "seconds since start" }, { label: panel.y_label, size: 70 }],
        series: series,
        plugins: [shadePlugin()],
      };
      charts.push(new uPlot(opts, [panel.x].concat(panel.columns), el));
    });
    if (data.served_by.names.length > 0) {
      charts.push(
        timelineChart(
          document.getElementById("chart-served"),
          "Served by, per second",
          "requests / s",
          data.served_by.names,
          data.served_by.columns,
          fmtCount
        )
      );
    }
  }
  data.spectra.forEach((spectrum, i) => {
    charts.push(spectrumChart(document.getElementById("chart-spectrum-" + i), spectrum));
  });
  window.addEventListener("resize", () => {
    for (const chart of charts) chart.setSize({ width: width(chart.root.parentElement), height: chart.height });
  });
  document.body.setAttribute("data-charts", String(charts.length));
  // For the browser's console and bench/report-interactions.cjs: each chart's scales and data.
  window.slacheckCharts = charts;
})();
