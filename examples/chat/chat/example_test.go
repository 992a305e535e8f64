package chat_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
)

// The chat is a businessworker Handler: give it to a Worker and run the
// Worker (w.Run(ctx)) to serve every gateway the register knows.
func ExampleHandler() {
	w, err := businessworker.New(businessworker.Config{
		Registers: []string{"127.0.0.1:1236"},
		Name:      "chat",
		Handler:   &chat.Handler{Tick: chat.DefaultTick},
	})
	fmt.Println(w != nil, err)
	// Output: true <nil>
}

// Page serves the chat page, which connects to the given WebSocket URL.
func ExamplePage() {
	rec := httptest.NewRecorder()
	chat.Page("ws://127.0.0.1:7272/").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), strings.Contains(rec.Body.String(), "127.0.0.1:7272"))
	// Output: 200 text/html; charset=utf-8 true
}
