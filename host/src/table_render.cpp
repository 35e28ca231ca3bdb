// render_table: Markdown, CSV and LaTeX (HTML is the report, report_html.cpp).
#include <cctype>
#include <sstream>

#include "ovseg/host/report.hpp"
#include "ovseg/host/tables.hpp"

namespace ovseg {

namespace {

bool any_group(const ComparisonTable& t) {
  for (const auto& r : t.rows)
    if (!r.group.empty()) return true;
  return false;
}

bool any_column_group(const ComparisonTable& t) {
  for (const auto& c : t.columns)
    if (!c.group.empty()) return true;
  return false;
}

// ---- Markdown --------------------------------------------------------------

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string md_cell(const TableRow& row, const TableColumn& col, const TableCell& cell) {
  std::string text = md_escape(cell.text);
  if (col.kind == ColumnKind::Label && row.published) text += "†";
  // Markdown has no underline: the second best is in italics.
  if (cell.rank == 1) return "**" + text + "**";
  if (cell.rank == 2) return "_" + text + "_";
  return text;
}

std::string render_markdown(const ComparisonTable& t) {
  std::ostringstream os;
  const auto line = [&](const std::vector<std::string>& cells) {
    os << "|";
    for (const auto& c : cells) os << " " << c << " |";
    os << "\n";
  };
  os << "**" << t.title << "**\n\n";
  if (!t.caption.empty()) os << t.caption << "\n\n";
  std::vector<std::string> header;
  for (const auto& c : t.columns) header.push_back(md_escape(c.flat_header()));
  line(header);
  os << "|";
  for (const auto& c : t.columns)
    os << (c.kind == ColumnKind::Label ? " :--- |" : c.kind == ColumnKind::Axis ? " :---: |" : " ---: |");
  os << "\n";
  std::string group;
  for (const auto& r : t.rows) {
    if (!r.group.empty() && r.group != group) {
      std::vector<std::string> g(t.columns.size(), "");
      g[0] = "*" + md_escape(r.group) + "*";
      line(g);
    }
    group = r.group;
    std::vector<std::string> cells;
    for (size_t c = 0; c < t.columns.size(); ++c) cells.push_back(md_cell(r, t.columns[c], r.cells[c]));
    line(cells);
  }
  os << "\n";
  for (const auto& f : t.footer) os << "- " << f << "\n";
  return os.str();
}

// ---- CSV -------------------------------------------------------------------

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Machine-readable: plain values, no marks; group and citation as columns
// when the table has them.
std::string render_csv(const ComparisonTable& t) {
  std::ostringstream os;
  const bool groups = any_group(t);
  bool cites = false;
  for (const auto& r : t.rows) cites |= r.published;
  const auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) os << (i ? "," : "") << csv_cell(cells[i]);
    os << "\n";
  };
  std::vector<std::string> header;
  for (const auto& c : t.columns) header.push_back(c.flat_header());
  if (groups) header.push_back("group");
  if (cites) header.push_back("published_in");
  line(header);
  for (const auto& r : t.rows) {
    std::vector<std::string> cells;
    for (const auto& c : r.cells) cells.push_back(c.text);
    if (groups) cells.push_back(r.group);
    if (cites) cells.push_back(r.cite);
    line(cells);
  }
  for (const auto& f : t.footer) os << "# " << f << "\n";
  return os.str();
}

// ---- LaTeX -----------------------------------------------------------------

std::string latex_escape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (s.compare(i, 3, "✓") == 0)
      out += "\\checkmark{}", i += 2;
    else if (s.compare(i, 3, "✗") == 0)
      out += "$\\times$", i += 2;
    else if (s.compare(i, 2, "Δ") == 0)
      out += "$\\Delta$", i += 1;
    else if (s.compare(i, 3, "†") == 0)
      out += "$^\\dagger$", i += 2;
    else if (c == '\\')
      out += "\\textbackslash{}";
    else if (c == '~')
      out += "\\textasciitilde{}";
    else if (c == '^')
      out += "\\textasciicircum{}";
    else if (std::string("&%$#_{}").find(c) != std::string::npos)
      out += std::string("\\") + c;
    else
      out += c;
  }
  return out;
}

std::string latex_number(const std::string& text) {
  // A typographic minus for negative numbers (Δ columns).
  if (text.size() > 1 && text[0] == '-' && std::isdigit(static_cast<unsigned char>(text[1])))
    return "$-$" + text.substr(1);
  return latex_escape(text);
}

std::string latex_cell(const TableRow& row, const TableColumn& col, const TableCell& cell) {
  if (col.kind == ColumnKind::Label) {
    std::string s = latex_escape(cell.text);
    if (row.published) s += row.cite.empty() ? "$^\\dagger$" : "~\\cite{" + row.cite + "}$^\\dagger$";
    return s;
  }
  const std::string text = col.kind == ColumnKind::Axis ? latex_escape(cell.text) : latex_number(cell.text);
  if (cell.rank == 1) return "\\textbf{" + text + "}";
  if (cell.rank == 2) return "\\underline{" + text + "}";
  return text;
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "results" : out;
}

std::string render_latex(const ComparisonTable& t) {
  std::ostringstream os;
  const size_t n = t.columns.size();
  os << "% " << t.title << ": generated by `ovseg table` from stored records.\n"
     << "% Needs \\usepackage{booktabs}" << (t.kind == "ablation" ? " and \\usepackage{amssymb} (\\checkmark)" : "")
     << ".\n";
  os << "\\begin{table}[t]\n  \\centering\n  \\small\n  \\caption{" << latex_escape(t.caption) << "}\n"
     << "  \\label{tab:ovseg-" << slug(t.title) << "}\n  \\begin{tabular}{";
  for (const auto& c : t.columns) os << (c.kind == ColumnKind::Label ? 'l' : 'c');
  os << "}\n    \\toprule\n";
  if (any_column_group(t)) {
    // A spanning header over each run of columns that share a group.
    std::string rules;
    os << "   ";
    for (size_t c = 0; c < n;) {
      size_t end = c + 1;
      while (!t.columns[c].group.empty() && end < n && t.columns[end].group == t.columns[c].group) ++end;
      os << (c ? " & " : " ");
      if (!t.columns[c].group.empty()) {
        os << "\\multicolumn{" << end - c << "}{c}{" << latex_escape(t.columns[c].group) << "}";
        rules += " \\cmidrule(lr){" + std::to_string(c + 1) + "-" + std::to_string(end) + "}";
      }
      c = end;
    }
    os << " \\\\\n   " << rules << "\n";
  }
  os << "   ";
  for (size_t c = 0; c < n; ++c) os << (c ? " & " : " ") << latex_escape(t.columns[c].header);
  os << " \\\\\n    \\midrule\n";
  std::string group;
  bool first = true;
  for (const auto& r : t.rows) {
    if (!r.group.empty() && r.group != group) {
      if (!first) os << "    \\midrule\n";
      os << "    \\multicolumn{" << n << "}{l}{\\textit{" << latex_escape(r.group) << "}} \\\\\n";
    }
    group = r.group;
    first = false;
    os << "   ";
    for (size_t c = 0; c < n; ++c) os << (c ? " & " : " ") << latex_cell(r, t.columns[c], r.cells[c]);
    os << " \\\\\n";
  }
  os << "    \\bottomrule\n  \\end{tabular}\n\\end{table}\n";
  for (const auto& f : t.footer) os << "% " << f << "\n";
  return os.str();
}

}  // namespace

std::string render_table(const ComparisonTable& t, TableFormat format) {
  switch (format) {
    case TableFormat::Markdown: return render_markdown(t);
    case TableFormat::Csv: return render_csv(t);
    case TableFormat::Latex: return render_latex(t);
    case TableFormat::Html: return render_report(t, ReportOptions{});
  }
  return "";
}

}  // namespace ovseg
