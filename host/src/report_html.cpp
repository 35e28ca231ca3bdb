// render_report: the page, the table, the per-class heat maps and the
// script that sorts columns and switches the heat map to Δ-to-baseline.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ovseg/host/benchmark_names.hpp"
#include "ovseg/host/report.hpp"
#include "report_parts.hpp"

namespace ovseg {

namespace report {

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else if (c == '\'')
      out += "&#39;";
    else
      out += c;
  }
  return out;
}

std::string method_colour(size_t i) {
  static const char* tableau[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return tableau[i % 10];
}

namespace {

struct Rgb {
  double r, g, b;
};

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<int>(std::lround(c.r)),
                static_cast<int>(std::lround(c.g)), static_cast<int>(std::lround(c.b)));
  return buf;
}

// The heat map's scale: ColorBrewer Blues at 0, 25, 50, 75, 100.
const Rgb kBlues[] = {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};

}  // namespace

std::string iou_colour(double v) {
  const double x = std::clamp(v, 0.0, 100.0) / 25.0;
  const int i = std::min(3, static_cast<int>(x));
  const double f = x - i;
  const Rgb& a = kBlues[i];
  const Rgb& b = kBlues[i + 1];
  return hex({a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f});
}

std::string text_colour_on(double v) { return v > 60 ? "#fff" : "#111"; }

std::string num(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace report

namespace {

using nlohmann::json;
using report::esc;

// The same scales as iou_colour, and a diverging one for Δ (red = worse than
// the baseline, blue = better, saturated at ±20 points).
const char* kScript = R"JS(
(function(){
var B=[[247,251,255],[198,219,239],[107,174,214],[33,113,181],[8,48,107]];
function mix(a,b,f){return 'rgb('+a.map(function(x,i){return Math.round(x+(b[i]-x)*f);}).join(',')+')';}
function iou(v){var x=Math.max(0,Math.min(100,v))/25,i=Math.min(3,Math.floor(x));return mix(B[i],B[i+1],x-i);}
function delta(d){var f=Math.min(1,Math.abs(d)/20);return d<0?mix([255,255,255],[178,24,43],f):mix([255,255,255],[33,102,172],f);}
function fmt(v,n){return v.toFixed(n);}
function paint(t){
  var dec=+t.dataset.decimals, view=t.dataset.view, base=t.dataset.baseline, rows=t.tBodies[0].rows, ref=null;
  for(var r=0;r<rows.length;r++) if(rows[r].dataset.row===base) ref=rows[r];
  for(var r=0;r<rows.length;r++){var cells=rows[r].cells;
    for(var c=1;c<cells.length;c++){var td=cells[c]; if(td.dataset.v===undefined) continue; var v=+td.dataset.v;
      if(view==='iou'||!ref){td.textContent=fmt(v,dec);td.style.background=iou(v);td.style.color=v>60?'#fff':'#111';td.title=fmt(v,dec);}
      else{var rv=ref.cells[c].dataset.v; if(rv===undefined){td.textContent='';td.style.background='#fff';continue;}
        var d=v-(+rv); if(Math.abs(d)<0.5*Math.pow(10,-dec)) d=0; td.textContent=(d>0?'+':'')+fmt(d,dec); td.style.background=delta(d); td.style.color=Math.abs(d)>14?'#fff':'#111';
        td.title=fmt(v,dec)+' ('+(d>0?'+':'')+fmt(d,dec)+' vs baseline)';}}}
}
document.querySelectorAll('table.heat').forEach(function(t){
  var box=t.closest('section');
  box.querySelectorAll('input[type=radio]').forEach(function(i){i.addEventListener('change',function(){t.dataset.view=i.value;paint(t);});});
  var s=box.querySelector('select'); if(s) s.addEventListener('change',function(){t.dataset.baseline=s.value;paint(t);});
  if(location.hash==='#delta'){box.querySelector('input[value=delta]').checked=true;t.dataset.view='delta';paint(t);}
});
document.querySelectorAll('table.sortable').forEach(function(t){
  var head=t.tHead.rows[t.tHead.rows.length-1];
  Array.prototype.forEach.call(head.cells,function(th,col){
    th.addEventListener('click',function(){
      var d=th.dataset.dir; var dir=d==='desc'?'asc':d==='asc'?'desc':(col===0?'asc':'desc'); var asc=dir==='asc';
      Array.prototype.forEach.call(head.cells,function(h){delete h.dataset.dir;}); th.dataset.dir=dir;
      Array.prototype.forEach.call(t.tBodies,function(body){
        var rows=Array.prototype.filter.call(body.rows,function(r){return !r.classList.contains('grp');});
        rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col];
          var xv=x&&x.dataset.v!==undefined?+x.dataset.v:null, yv=y&&y.dataset.v!==undefined?+y.dataset.v:null;
          if(xv===null&&yv===null){var s=(x?x.textContent:'').localeCompare(y?y.textContent:'');return asc?s:-s;}
          if(xv===null) return 1; if(yv===null) return -1; return asc?xv-yv:yv-xv;});
        rows.forEach(function(r){body.appendChild(r);});});
    });});
});
})();
)JS";

const char* kStyle = R"CSS(
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85;font-size:13px}
nav{padding:8px 32px;background:#e9eef5;font-size:13px}nav a{margin-right:18px;color:#1f3a5f;text-decoration:none;font-weight:600}
main{padding:8px 32px 40px;max-width:1500px}section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:14px 18px;margin:18px 0}
h2{font-size:17px;margin:0 0 8px}p.cap{font-size:13px;color:#444;margin:4px 0 10px;max-width:1100px}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 8px;text-align:right;white-space:nowrap}
thead th{border-bottom:2px solid #333;cursor:pointer;user-select:none}thead tr.span th{border-bottom:1px solid #999;text-align:center;cursor:default}
th:first-child,td:first-child{text-align:left}tbody tr:hover td,tbody tr:hover th{outline:1px solid #ccc}
table.main tbody{border-bottom:1px solid #999}table.main td{font-variant-numeric:tabular-nums}
tr.grp td{font-style:italic;color:#555;text-align:left;padding-top:8px;background:#f4f4f4}
tr.pub td:first-child{color:#444}sup.cite{color:#777;font-size:10px;margin-left:3px}
th[data-dir=asc]::after{content:" \25B2";font-size:9px}th[data-dir=desc]::after{content:" \25BC";font-size:9px}
.scroll{overflow-x:auto}table.heat td{min-width:34px;font-variant-numeric:tabular-nums;border:1px solid #fff}
table.heat th.v{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;max-height:140px;font-weight:500}
table.heat td.r1{font-weight:700}table.heat td.r2{text-decoration:underline}
table.heat[data-view=delta] td.r1{font-weight:400}table.heat[data-view=delta] td.r2{text-decoration:none}
.controls{font-size:13px;margin:4px 0 8px}.controls select{margin-left:6px}
ul.foot{font-size:12px;color:#555;padding-left:18px}details summary{cursor:pointer;font-size:13px;color:#1f3a5f}
.grid td,.grid th{padding:2px;text-align:center;vertical-align:top}.grid th{font-size:12px;cursor:default;border-bottom:1px solid #999;white-space:normal;vertical-align:bottom}
.grid img{display:block;image-rendering:pixelated}.grid .id{font-size:11px;color:#555;text-align:left;max-width:110px;white-space:normal}
.legend span{display:inline-block;margin:2px 10px 2px 0;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border:1px solid #999}
.note{font-size:13px;color:#7a4b00;background:#fff6e0;padding:6px 10px;border-radius:4px}
svg text{font-family:inherit}
)CSS";

std::string cell_html(const TableRow& row, const TableColumn& col, const TableCell& cell) {
  std::ostringstream os;
  if (col.kind == ColumnKind::Label) {
    os << "<td>" << esc(cell.text);
    if (row.published)
      os << "<sup class='cite' title='published in " << esc(row.cite) << "'>† " << esc(row.cite) << "</sup>";
    os << "</td>";
    return os.str();
  }
  os << "<td";
  if (cell.value) os << " data-v='" << *cell.value << "'";
  if (!cell.note.empty()) os << " title='" << esc(cell.note) << "'";
  os << ">";
  const std::string text = esc(cell.text);
  os << (cell.rank == 1 ? "<b>" + text + "</b>" : cell.rank == 2 ? "<u>" + text + "</u>" : text) << "</td>";
  return os.str();
}

std::string main_table(const ComparisonTable& t) {
  std::ostringstream os;
  os << "<div class='scroll'><table class='main sortable'><thead>";
  bool groups = false;
  for (const auto& c : t.columns) groups |= !c.group.empty();
  if (groups) {
    os << "<tr class='span'>";
    for (size_t c = 0; c < t.columns.size();) {
      size_t end = c + 1;
      while (!t.columns[c].group.empty() && end < t.columns.size() && t.columns[end].group == t.columns[c].group) ++end;
      os << "<th colspan='" << end - c << "'>" << esc(t.columns[c].group) << "</th>";
      c = end;
    }
    os << "</tr>";
  }
  os << "<tr>";
  for (const auto& c : t.columns) os << "<th title='click to sort'>" << esc(c.header) << "</th>";
  os << "</tr></thead>";
  std::string group = "\x01";
  for (const auto& r : t.rows) {
    if (r.group != group) {
      if (group != "\x01") os << "</tbody>";
      os << "<tbody>";
      if (!r.group.empty())
        os << "<tr class='grp'><td colspan='" << t.columns.size() << "'>" << esc(r.group) << "</td></tr>";
      group = r.group;
    }
    os << "<tr" << (r.published ? " class='pub'" : "") << ">";
    for (size_t c = 0; c < t.columns.size(); ++c) os << cell_html(r, t.columns[c], r.cells[c]);
    os << "</tr>";
  }
  if (!t.rows.empty()) os << "</tbody>";
  os << "</table></div>";
  return os.str();
}

// The data sets whose records carry per-class results, in column order.
std::vector<std::string> per_class_datasets(const ComparisonTable& t) {
  std::vector<std::string> out;
  for (const auto& r : t.rows)
    for (const auto& rec : r.records) {
      const std::string ds = rec.at("dataset").at("name");
      if (std::find(out.begin(), out.end(), ds) == out.end()) out.push_back(ds);
    }
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return dataset_column_rank(a) < dataset_column_rank(b);
  });
  return out;
}

std::string heat_map(const ComparisonTable& t, const std::string& ds, const ReportOptions& o, size_t index) {
  struct HeatRow {
    std::string label, pipeline;
    const json* record;
  };
  std::vector<HeatRow> rows;
  for (const auto& r : t.rows)
    for (const auto& rec : r.records)
      if (rec.at("dataset").at("name") == ds) rows.push_back({r.label, rec.at("pipeline").value("name", ""), &rec});
  if (rows.empty()) return "";
  // Classes in data set order; those no row has a value for are left out.
  const auto classes = rows[0].record->at("dataset").value("class_names", std::vector<std::string>());
  std::set<std::string> unseen;
  for (const auto& r : rows)
    if (r.record->contains("zero_shot"))
      for (const auto& u : r.record->at("zero_shot").at("unseen")) unseen.insert(u.get<std::string>());
  std::vector<std::vector<std::optional<double>>> values(rows.size());
  std::vector<bool> used(classes.size(), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    values[i].assign(classes.size(), std::nullopt);
    const auto& pc = rows[i].record->at("metrics").at("per_class");
    for (size_t c = 0; c < classes.size() && c < pc.size(); ++c)
      if (pc[c].at("iou").is_number()) values[i][c] = pc[c].at("iou").get<double>(), used[c] = true;
  }
  size_t baseline = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    if (!o.baseline.empty() && (rows[i].label == o.baseline || rows[i].pipeline == o.baseline)) {
      baseline = i;
      break;
    }
  const bool vertical = std::count(used.begin(), used.end(), true) > 12;
  const int dec = t.decimals;
  std::ostringstream os;
  const std::string name = "view" + std::to_string(index);
  os << "<section id='heat-" << esc(ds) << "'><h2>Per-class IoU on " << esc(dataset_short_name(ds)) << "</h2>"
     << "<p class='cap'>Rows: methods; columns: classes (in the data set's order) and mIoU. Cells are coloured by IoU, "
        "the best of each column in bold and the second underlined; the second view colours the difference to a "
        "baseline row (blue: better, red: worse; open the page as report.html#delta to start there). Click a header "
        "to sort."
     << (unseen.empty() ? "" : " Unseen classes are marked *.") << "</p>"
     << "<div class='controls'>View: <label><input type='radio' name='" << name << "' value='iou' checked> IoU</label> "
     << "<label><input type='radio' name='" << name
     << "' value='delta'> Δ to the baseline</label><select title='baseline'>";
  for (size_t i = 0; i < rows.size(); ++i)
    os << "<option value='" << i << "'" << (i == baseline ? " selected" : "") << ">" << esc(rows[i].label)
       << "</option>";
  os << "</select></div><div class='scroll'><table class='heat sortable' data-view='iou' data-baseline='" << baseline
     << "' data-decimals='" << dec << "'><thead><tr><th>Method</th>";
  for (size_t c = 0; c < classes.size(); ++c)
    if (used[c])
      os << "<th" << (vertical ? " class='v'" : "") << ">" << esc(classes[c]) << (unseen.count(classes[c]) ? "*" : "")
         << "</th>";
  os << "<th" << (vertical ? " class='v'" : "") << ">mIoU</th></tr></thead><tbody>";
  // The cells, then the best (r1) and second (r2) of each column, as in the tables.
  std::vector<std::vector<std::optional<double>>> cells(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t c = 0; c < classes.size(); ++c)
      if (used[c]) cells[i].push_back(values[i][c]);
    const json& m = rows[i].record->at("metrics").at("mIoU");
    cells[i].push_back(m.is_number() ? std::optional<double>(m.get<double>()) : std::nullopt);
  }
  const double scale = std::pow(10.0, dec);
  std::vector<std::vector<int>> marks(rows.size(), std::vector<int>(cells.empty() ? 0 : cells[0].size(), 0));
  for (size_t c = 0; !cells.empty() && c < cells[0].size(); ++c) {
    std::vector<long long> v;
    for (const auto& row : cells)
      if (row[c]) v.push_back(std::llround(*row[c] * scale));
    std::sort(v.rbegin(), v.rend());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    if (v.size() < 2) continue;
    for (size_t i = 0; i < rows.size(); ++i)
      if (cells[i][c]) {
        const long long x = std::llround(*cells[i][c] * scale);
        marks[i][c] = x == v[0] ? 1 : x == v[1] ? 2 : 0;
      }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    os << "<tr data-row='" << i << "'><td>" << esc(rows[i].label) << "</td>";
    for (size_t c = 0; c < cells[i].size(); ++c) {
      const auto& v = cells[i][c];
      if (!v) {
        os << "<td></td>";
        continue;
      }
      os << "<td" << (marks[i][c] ? " class='r" + std::to_string(marks[i][c]) + "'" : "") << " data-v='" << *v
         << "' style='background:" << report::iou_colour(*v) << ";color:" << report::text_colour_on(*v) << "' title='"
         << report::num(*v, dec) << "'>" << report::num(*v, dec) << "</td>";
    }
    os << "</tr>";
  }
  os << "</tbody></table></div>";
  const size_t hidden = std::count(used.begin(), used.end(), false);
  if (hidden > 0)
    os << "<p class='cap'>" << hidden
       << " classes absent from every row's ground truth and prediction are not shown.</p>";
  os << "</section>";
  return os.str();
}

}  // namespace

void check_image_rule(const std::string& rule) {
  const std::string kind = rule.substr(0, rule.find(':'));
  if (kind != "random" && kind != "worst" && kind != "disagree")
    throw std::invalid_argument("image rule '" + rule + "': use random[:SEED], worst[:CLASS] or disagree[:A,B]");
  if (kind == "random" && rule.size() > 7) {
    const std::string seed = rule.substr(7);
    if (seed.empty() || seed.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("image rule '" + rule + "': the seed must be a non-negative integer");
  }
  if (kind == "disagree" && rule.size() > 9 && rule.find(',') == std::string::npos)
    throw std::invalid_argument("image rule '" + rule + "': name two methods, disagree:A,B");
}

std::string render_report(const ComparisonTable& t, const ReportOptions& o) {
  check_image_rule(o.rule);
  std::ostringstream os;
  size_t records = 0;
  for (const auto& r : t.rows) records += r.records.size();
  const std::string title = o.title.empty() ? t.title : o.title;
  os << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width'>"
     << "<title>" << esc(title) << " - ovseg report</title><style>" << kStyle << "</style></head><body>\n";
  os << "<header><h1>" << esc(title) << "</h1><p>ovseg report: " << t.rows.size() << " rows from " << records
     << " stored records</p></header>\n";
  const auto datasets = per_class_datasets(t);
  const std::string bars = report::grouped_bars(t), params = report::parameter_plots(t);
  os << "<nav>";
  if (t.kind != "per-class") os << "<a href='#table'>Table</a>";
  for (const auto& d : datasets)
    os << "<a href='#heat-" << esc(d) << "'>Per-class " << esc(dataset_short_name(d)) << "</a>";
  if (!bars.empty() || !params.empty()) os << "<a href='#plots'>Plots</a>";
  if (!o.focus.empty()) os << "<a href='#focus'>Focus</a>";
  os << "<a href='#qualitative'>Qualitative</a><a href='#protocol'>Protocol</a></nav>\n<main>\n";
  // A per-class table is the heat map; other tables come first as printed.
  if (t.kind != "per-class")
    os << "<section id='table'><h2>" << esc(t.title) << "</h2><p class='cap'>" << esc(t.caption) << "</p>"
       << main_table(t) << "</section>\n";
  os << report::focus_sections(t, o);  // the classes asked about first, before the overviews
  for (size_t i = 0; i < datasets.size(); ++i) os << heat_map(t, datasets[i], o, i) << "\n";
  if (!bars.empty() || !params.empty()) os << "<section id='plots'><h2>Plots</h2>" << bars << params << "</section>\n";
  os << "<section id='qualitative'><h2>Qualitative comparison</h2>" << report::qualitative_section(t, o)
     << "</section>\n";
  os << "<section id='protocol'><h2>Protocol and notes</h2>";
  if (t.kind == "per-class") os << "<p class='cap'>" << esc(t.caption) << "</p>";
  os << "<ul class='foot'>";
  for (const auto& f : t.footer) os << "<li>" << esc(f) << "</li>";
  os << "</ul></section>\n</main>\n<script>" << kScript << "</script>\n</body></html>\n";
  return os.str();
}

}  // namespace ovseg
