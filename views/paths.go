package views

import "context"

// basePathKey keys BASE_URL's path prefix in a render's context.
type basePathKey struct{}

// WithBasePath returns ctx carrying BASE_URL's path prefix ("/latchkey"),
// which path puts in front of every Latchkey URL a template writes. The
// handlers render every page, fragment and error with it; without it (no
// prefix, or a test rendering on context.Background()) routes are written
// as they are.
func WithBasePath(ctx context.Context, base string) context.Context {
	if base == "" {
		return ctx
	}
	return context.WithValue(ctx, basePathKey{}, base)
}

// path is the URL of one of Latchkey's own routes: route ("/account/login")
// under BASE_URL's path prefix, if it has one ("/latchkey/account/login").
// Templates write every link, asset, form action and hx-* URL of
// Latchkey through it, literals and view-model routes alike:
//
//	<a href={ path(ctx, "/account") }>
//	<form action={ path(ctx, "/account/login") } hx-post={ path(ctx, "/account/login") }>
//	<link rel="stylesheet" href={ path(ctx, p.Assets.CSS) }/>
//
// Fragment links ("#main") and absolute URLs (emails) are written as they
// are.
func path(ctx context.Context, route string) string {
	if base, ok := ctx.Value(basePathKey{}).(string); ok {
		return base + route
	}
	return route
}
