package report

import (
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	"text/template"
	"time"
)

//go:embed templates
var templates embed.FS

// Formats Write knows.
const (
	FormatHTML     = "html"
	FormatMarkdown = "md"
	FormatJSON     = "json"
)

// Write renders r in format (html, md or json) to w.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatHTML:
		return pages.ExecuteTemplate(w, "report.html", r)
	case FormatMarkdown:
		return markdown.ExecuteTemplate(w, "report.md", r)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return fmt.Errorf("report format %q: want html, md or json", format)
}

var funcs = template.FuncMap{
	"bytes": byteSize,
	"short": shortHash,
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"join":  strings.Join,
	"more":  func(e Evidence) int64 { return e.Count - int64(len(e.IDs)) },
	"bars":  bars,
	"color": func(series string) string { return seriesColors[series] },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	// mdcell and mdcode keep text seen on the wire (tool descriptions,
	// Host headers) inside its table cell or code block.
	"mdcell": func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
	},
	"mdcode": func(s string) string {
		return strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
	},
}

var (
	pages    = htmltemplate.Must(htmltemplate.New("").Funcs(htmltemplate.FuncMap(funcs)).ParseFS(templates, "templates/report.html"))
	markdown = template.Must(template.New("").Funcs(funcs).ParseFS(templates, "templates/report.md"))
)
