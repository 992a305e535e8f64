package rooms

import (
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed index.html
var pageSource string

// Page serves the chat page at "/". wsURL is the gateway address the page
// connects to; empty means ws://<the page's host name>:7272/. A ?ws= query
// parameter on the page overrides both.
func Page(wsURL string) (http.Handler, error) {
	page, err := template.New("rooms").Parse(pageSource)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, struct{ WS string }{wsURL})
	}), nil
}
