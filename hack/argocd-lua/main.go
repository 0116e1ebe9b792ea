// Command argocd-lua runs an Argo CD resource customization script (health.lua,
// actions/discovery.lua, actions/<name>/action.lua) the way Argo CD runs a script from
// argocd-cm: gopher-lua (Lua 5.1), only the package, base and table libraries and a
// reduced os library, the object as the global `obj`, one second to finish. It reads
// the object as JSON on stdin and prints the table the script returns as JSON.
//
// It exists so modelship's tests run the checks in the VM Argo CD uses, not in
// another Lua. Usage: argocd-lua SCRIPT < object.json
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua SCRIPT < object.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var obj any
	dec := json.NewDecoder(os.Stdin)
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		fail(fmt.Errorf("object: %w", err))
	}
	out, err := run(string(script), obj)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-lua:", err)
	os.Exit(1)
}

// run executes script with obj as the global `obj` and returns its result as Go values.
func run(script string, obj any) (any, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	return restoreEmpty(fromLua(ret), obj), nil
}

// restoreEmpty undoes what Lua cannot tell apart: an empty table comes back as [] even
// where the object had {} (a pause step's `pause: {}`). Argo CD repairs an action's
// output against the input the same way before it patches.
func restoreEmpty(out, in any) any {
	switch o := out.(type) {
	case map[string]any:
		i, ok := in.(map[string]any)
		if !ok {
			return out
		}
		for k, v := range o {
			if old, found := i[k]; found {
				o[k] = restoreEmpty(v, old)
			}
		}
	case []any:
		if m, ok := in.(map[string]any); ok && len(o) == 0 {
			return m
		}
		i, ok := in.([]any)
		if !ok {
			return out
		}
		for n := range o {
			if n < len(i) {
				o[n] = restoreEmpty(o[n], i[n])
			}
		}
	}
	return out
}

// openSafeOs gives the os functions that touch nothing: time, date, clock, difftime.
func openSafeOs(l *lua.LState) int {
	lua.OpenOs(l)
	all := l.GetGlobal(lua.OsLibName)
	safe := l.NewTable()
	for _, name := range []string{"time", "date", "clock", "difftime"} {
		safe.RawSetString(name, l.GetField(all, name))
	}
	l.SetGlobal(lua.OsLibName, safe)
	l.Push(safe)
	return 1
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return lua.LNumber(f)
		}
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// fromLua turns a returned value into JSON-able Go values: a table with keys 1..n only
// is an array (an empty table too, as Argo CD's encoder does), else an object.
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LNumber:
		return float64(x)
	case lua.LString:
		return string(x)
	case *lua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if count == n {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				arr = append(arr, fromLua(x.RawGetInt(i)))
			}
			return arr
		}
		obj := map[string]any{}
		x.ForEach(func(k, val lua.LValue) { obj[k.String()] = fromLua(val) })
		return obj
	}
	return nil
}
