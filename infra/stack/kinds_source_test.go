package stack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/infra/stack"
)

// kindCalls reads internal/resources as source (infra must not import it)
// and returns, per kind name, the AWS actions its client interfaces declare,
// plus the actions of interfaces in files that hold no kind (shared, such
// as region discovery). An interface method Foo taking *svc.FooInput is the
// IAM action "svc:Foo"; an embedded svc.FooAPIClient is "svc:Foo".
func kindCalls(t *testing.T) (map[string]map[string]bool, map[string]bool) {
	t.Helper()
	root, err := stack.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "internal", "resources", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	kinds, shared := map[string]map[string]bool{}, map[string]bool{}
	for _, path := range files {
		// Restore code (*_restore.go) runs in the operator's CLI with the
		// operator's credentials, never in the function: its calls
		// (StartInstances, ResumeProcesses...) must not be granted to the
		// function's role, so they are not counted as the kind's calls.
		if strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_restore.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		name, calls := "", map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv != nil && n.Name.Name == "Name" && len(n.Body.List) == 1 {
					if ret, ok := n.Body.List[0].(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
						if lit, ok := ret.Results[0].(*ast.BasicLit); ok {
							name, _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.InterfaceType:
				for _, m := range n.Methods.List {
					if action := actionOf(m); action != "" {
						calls[action] = true
					}
				}
			}
			return true
		})
		target := shared
		if name != "" {
			if kinds[name] == nil {
				kinds[name] = map[string]bool{}
			}
			target = kinds[name]
		}
		for a := range calls {
			target[a] = true
		}
	}
	return kinds, shared
}

func actionOf(m *ast.Field) string {
	if len(m.Names) == 0 { // embedded, e.g. ec2.DescribeInstancesAPIClient
		if sel, ok := m.Type.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "APIClient") {
			return sel.X.(*ast.Ident).Name + ":" + strings.TrimSuffix(sel.Sel.Name, "APIClient")
		}
		return ""
	}
	fn, ok := m.Type.(*ast.FuncType)
	if !ok {
		return ""
	}
	for _, p := range fn.Params.List {
		if star, ok := p.Type.(*ast.StarExpr); ok {
			if sel, ok := star.X.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Input") {
				return sel.X.(*ast.Ident).Name + ":" + m.Names[0].Name
			}
		}
	}
	return ""
}

// Every kind in internal/resources has its entry in the permissions table,
// and that entry allows exactly the calls the kind's client interfaces
// declare (a shared call, such as ec2:DescribeRegions, in some entry): a
// missing permission would fail closed only in AWS, a spare one is a hole.
func TestPermissionsMatchWhatEachKindCalls(t *testing.T) {
	kinds, shared := kindCalls(t)
	if len(kinds) < 10 {
		t.Fatalf("found only %d kinds in internal/resources: the source scan is broken", len(kinds))
	}
	table := map[string]stack.KindPermissions{}
	sharedAllowed := map[string]bool{}
	for _, k := range stack.Permissions {
		table[k.Kind] = k
		allowed := map[string]bool{}
		for _, s := range k.Statements {
			for _, a := range s.Actions {
				if !s.Deny {
					allowed[a] = true
				}
			}
		}
		calls, ok := kinds[k.Kind]
		if !ok {
			t.Errorf("permissions for %q, but no kind of that name in internal/resources", k.Kind)
			continue
		}
		for a := range calls {
			if !allowed[a] {
				t.Errorf("%s calls %s, which its entry does not allow", k.Kind, a)
			}
		}
		for a := range allowed {
			switch {
			case calls[a]:
			case shared[a]:
				sharedAllowed[a] = true
			default:
				t.Errorf("%s: allows %s, which the kind does not call", k.Kind, a)
			}
		}
	}
	var names []string
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := table[name]; !ok {
			t.Errorf("kind %q has no entry in stack.Permissions", name)
		}
	}
	for a := range shared {
		if !sharedAllowed[a] {
			t.Errorf("shared call %s is allowed by no entry", a)
		}
	}
}
