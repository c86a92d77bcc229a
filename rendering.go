package dumper

import "context"

// Rendering reports whether ctx is the context of a response a dumper middleware is
// rendering, so that what [Tag], [NoStore], [ReadRows] and [ReadTable] record with it counts.
// Data layers call it to skip the work of classifying a read made outside any render, which
// would record nothing.
func Rendering(ctx context.Context) bool {
	_, ok := ctx.Value(renderKey{}).(*renderState)
	return ok
}
