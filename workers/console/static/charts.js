"use strict";
// Hand-drawn SVG charts, so the console needs no library and fetches nothing. Each
// chart states its figures in an aria-label: a screen reader hears the numbers.

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";

  function svg(name, attributes = {}, text = null) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== null) node.textContent = text;
    return node;
  }

  function html(name, className, text) {
    const node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A figure with its caption, the drawing, a legend and, when there is nothing to
  // draw, a sentence instead of empty axes.
  function figure(title, series, drawing, emptyText) {
    const root = html("figure", "chart");
    root.append(html("figcaption", "", title));
    if (drawing === null) {
      root.append(html("p", "empty", emptyText));
      return root;
    }
    root.append(drawing);
    if (series.length > 1) {
      const legend = html("ul", "legend");
      legend.setAttribute("aria-hidden", "true");  // the aria-label already names them
      for (const s of series) {
        const item = html("li");
        const swatch = html("span", "swatch");
        swatch.style.backgroundColor = s.color;
        item.append(swatch, document.createTextNode(s.label));
        legend.append(item);
      }
      root.append(legend);
    }
    return root;
  }

  function frame(width, height, label) {
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, width: String(width), height: String(height),
      role: "img", "aria-label": label,
    });
    return root;
  }

  /**
   * Stacked columns, one per label (an hour…), one segment per series.
   * rows: [{label, tick, values: {seriesKey: number}}]; series: [{key, label, color}].
   */
  function columns({ title, rows, series, describe, emptyText, width = 600, height = 170 }) {
    const totals = rows.map((row) => series.reduce((sum, s) => sum + (row.values[s.key] || 0), 0));
    const top = Math.max(0, ...totals);
    if (top === 0) return figure(title, series, null, emptyText);
    const left = 34, bottom = 22, plotHeight = height - bottom - 8;
    const step = (width - left) / rows.length;
    const root = frame(width, height, describe(rows, totals));
    root.append(svg("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
    root.append(svg("text", { x: left - 6, y: 14, class: "tick", "text-anchor": "end" }, String(top)));
    root.append(svg("text", { x: left - 6, y: height - bottom, class: "tick", "text-anchor": "end" }, "0"));
    rows.forEach((row, index) => {
      let y = height - bottom;
      const x = left + index * step + 1;
      for (const s of series) {
        const value = row.values[s.key] || 0;
        if (!value) continue;
        const h = (value / top) * plotHeight;
        y -= h;
        const bar = svg("rect", { x, y, width: Math.max(1, step - 2), height: h, fill: s.color });
        bar.append(svg("title", {}, `${row.label}: ${value} ${s.label}`));
        root.append(bar);
      }
      if (row.tick) {
        const last = index === rows.length - 1;  // kept inside the frame
        root.append(svg("text", {
          x: last ? width : x + step / 2, y: height - 6, class: "tick", "text-anchor": last ? "end" : "middle",
        }, row.tick));
      }
    });
    return figure(title, series, root, emptyText);
  }

  /**
   * Horizontal bars, stacked by series, from a zero line that moves right when some
   * values are negative (a variance can go either way).
   * rows: [{label, values: {seriesKey: number}}]; format(number) → text.
   */
  function bars({ title, rows, series, describe, emptyText, format = String, width = 600 }) {
    const sums = rows.map((row) => series.reduce((sum, s) => sum + (row.values[s.key] || 0), 0));
    if (rows.length === 0) return figure(title, series, null, emptyText);
    const barHeight = 20, gap = 8, labelWidth = 250, valueWidth = 80;
    const height = rows.length * (barHeight + gap) + gap;
    const low = Math.min(0, ...sums), high = Math.max(0, ...sums);
    const span = high - low || 1;
    const plot = width - labelWidth - valueWidth;
    const zero = labelWidth + (-low / span) * plot;
    const root = frame(width, height, describe(rows, sums));
    rows.forEach((row, index) => {
      const y = gap + index * (barHeight + gap);
      root.append(svg("text", { x: labelWidth - 8, y: y + barHeight * 0.7, class: "label", "text-anchor": "end" }, row.label));
      let x = zero;
      for (const s of series) {
        const value = row.values[s.key] || 0;
        if (!value) continue;
        const w = (Math.abs(value) / span) * plot;
        const start = value < 0 ? x - w : x;
        const bar = svg("rect", { x: start, y, width: Math.max(1, w), height: barHeight, fill: s.color });
        bar.append(svg("title", {}, `${row.label}: ${format(value)} ${s.label}`));
        root.append(bar);
        if (value > 0) x += w;
      }
      const end = sums[index] < 0 ? zero : Math.max(x, zero);
      root.append(svg("text", { x: end + 6, y: y + barHeight * 0.7, class: "value" }, format(sums[index])));
    });
    root.append(svg("line", { x1: zero, x2: zero, y1: 0, y2: height, class: "axis" }));
    return figure(title, series, root, emptyText);
  }

  /** A line over a few points (a figure per run), with its last value written out. */
  function sparkline({ label, points, format = String, width = 180, height = 36 }) {
    const values = points.map((p) => p.value);
    const low = Math.min(0, ...values), high = Math.max(0, ...values);
    const span = high - low || 1;
    const step = points.length > 1 ? (width - 8) / (points.length - 1) : 0;
    const y = (v) => height - 4 - ((v - low) / span) * (height - 8);
    const last = values[values.length - 1];
    const root = frame(width, height,
      `${label}: ${values.map(format).join(", ")} over the last ${values.length === 1 ? "run" : `${values.length} runs`}`);
    root.append(svg("line", { x1: 4, x2: width - 4, y1: y(0), y2: y(0), class: "axis" }));
    const line = points.map((p, i) => `${4 + i * step},${y(p.value)}`).join(" ");
    root.append(svg("polyline", { points: line, class: "spark" }));
    root.append(svg("circle", { cx: 4 + (points.length - 1) * step, cy: y(last), r: 3, class: "spark-dot" }));
    return root;
  }

  window.SynclineCharts = { columns, bars, sparkline };
})();
