// Drives a results folder's report.html in headless Chromium with Playwright: hovers the request-rate chart and
// reads the legend (and the latency chart's, whose cursor follows), drags to zoom, clicks a legend entry to hide
// its series, and saves hover.png and zoom.png. Exits 1 when an interaction does not work. Not run in CI (it
// needs Node.js, playwright-core and Debian's chromium):
//   npm install --prefix /tmp/pw playwright-core
//   NODE_PATH=/tmp/pw/node_modules node bench/report-interactions.cjs RESULTS_DIR [OUT_DIR]
const { chromium } = require("playwright-core");
const path = require("path");

async function main() {
  const dir = process.argv[2];
  const out = process.argv[3] || dir;
  if (!dir) throw new Error("usage: node bench/report-interactions.cjs RESULTS_DIR [OUT_DIR]");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto("file://" + path.resolve(dir, "report.html"));
  const over = page.locator("#chart-rate .u-over");
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  const values = async (chart) =>
    (await page.locator(`${chart} .u-legend .u-value`).allInnerTexts()).map((v) => v.trim());
  const before = await values("#chart-rate");
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5);
  await page.waitForTimeout(200);
  const hovered = await values("#chart-rate");
  const synced = await values("#chart-latency");
  console.log("hover, request rate:", hovered.join(" | "));
  console.log("hover, latency (same second):", synced.join(" | "));
  await page.screenshot({ path: path.join(out, "hover.png"), clip: { x: 0, y: box.y - 60, width: 1100, height: 700 } });
  const ticks = async () => page.evaluate(() => {
    const x = window.slacheckCharts[0].scales.x;
    return `${x.min}..${x.max}`;
  });
  const ticksBefore = await ticks();
  await page.mouse.move(box.x + box.width * 0.2, box.y + 20);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 5 });
  await page.mouse.up();
  await page.waitForTimeout(200);
  const ticksAfter = await ticks();
  console.log("seconds shown before the drag:", ticksBefore, "| after:", ticksAfter);
  const entry = page.locator("#chart-rate .u-legend .u-series").nth(1);
  await entry.click();
  const hidden = (await entry.getAttribute("class")).includes("u-off");
  console.log("first series hidden after a click on its legend entry:", hidden);
  await page.screenshot({ path: path.join(out, "zoom.png"), clip: { x: 0, y: box.y - 60, width: 1100, height: 700 } });
  await browser.close();
  const failures = [];
  if (hovered.every((v) => v === "–") || hovered.join() === before.join()) failures.push("hover shows no values");
  if (synced.every((v) => v === "–")) failures.push("the latency chart's cursor does not follow");
  if (ticksAfter === ticksBefore) failures.push("dragging does not zoom");
  if (!hidden) failures.push("a legend click does not hide its series");
  if (failures.length) {
    console.error("error: " + failures.join("; "));
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
