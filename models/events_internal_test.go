package models

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryEventKindHasALabel reads the package's source for every
// constant named Event…, wherever it is declared, and requires it to be an
// EventKind with a label: a new event cannot reach the account page as a
// blank row.
func TestEveryEventKindHasALabel(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Event") {
						continue
					}
					found++
					t.Run(id.Name, func(t *testing.T) {
						if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "EventKind" {
							t.Fatalf("%s: %s is not declared as an EventKind", fset.Position(id.Pos()), id.Name)
						}
						lit, ok := vs.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							t.Fatalf("%s: %s is not a string literal", fset.Position(id.Pos()), id.Name)
						}
						kind, err := strconv.Unquote(lit.Value)
						if err != nil {
							t.Fatal(err)
						}
						if label := eventLabels[EventKind(kind)]; strings.TrimSpace(label) == "" {
							t.Errorf("%s (%q) has no label in eventLabels", id.Name, kind)
						}
					})
				}
			}
		}
	}
	if found != len(eventLabels) {
		t.Errorf("%d Event… constants but %d labels", found, len(eventLabels))
	}
}

// TestUnknownEventKindIsNotBlank: a kind this version does not know shows
// as stored.
func TestUnknownEventKindIsNotBlank(t *testing.T) {
	if got := EventKind("from-a-newer-version").Label(); got != "from-a-newer-version" {
		t.Errorf("unknown kind labelled %q", got)
	}
	if got := EventSignIn.Label(); got != "Signed in" {
		t.Errorf("sign-in labelled %q", got)
	}
}
