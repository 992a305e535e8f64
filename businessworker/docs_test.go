package businessworker

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docs/api.md's mapping table (GatewayWorker name -> Go name) names every
// method of API, and every Go call it names exists: the table is where
// GatewayWorker's vocabulary lives, so it must not drift from the code.
func TestAPIDocsMappingComplete(t *testing.T) {
	raw, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "## GatewayWorker → Go")
	if start < 0 {
		t.Fatal(`docs/api.md has no "## GatewayWorker → Go" section`)
	}
	table := doc[start:]
	if end := strings.Index(table[3:], "\n## "); end >= 0 {
		table = table[:end+3]
	}
	// The Go column: the second cell of each row.
	var goCol strings.Builder
	for line := range strings.SplitSeq(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 3 {
			goCol.WriteString(cells[2] + "\n")
		}
	}
	col := goCol.String()

	known := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[*API](), reflect.TypeFor[*Worker](), reflect.TypeFor[*Client](), reflect.TypeFor[Handler]()} {
		for i := range typ.NumMethod() {
			known[typ.Method(i).Name] = true
		}
	}
	for _, fn := range []string{"New", "WithClients", "WithExclude", "WithLastMessage", "WithCloseCode", "WithImmediate", "WithLeaderOnly", "LeaderToken", "Text", "Binary"} {
		known[fn] = true
	}

	api := reflect.TypeFor[*API]()
	for i := range api.NumMethod() {
		name := api.Method(i).Name
		if !strings.Contains(col, name+"(") {
			t.Errorf("docs/api.md's mapping table does not name API.%s", name)
		}
	}
	for _, m := range regexp.MustCompile(`\b([A-Z][A-Za-z]*)\(`).FindAllStringSubmatch(col, -1) {
		if !known[m[1]] {
			t.Errorf("docs/api.md's mapping table names %s(, which businessworker does not have", m[1])
		}
	}
}
