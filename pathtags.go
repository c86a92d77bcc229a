package dumper

// PathTags returns the tags that [Cache.InvalidatePaths] invalidates for path: the tag of
// path read as a link ([NormalizePath]) and, when path holds a "%" or a "?", the tag of path
// read as raw text, every byte standing for itself; one tag otherwise. An integration that
// records what an invalidation covered (pgnotify's Commits) compares these tags, not
// NormalizePath's one, since a path of two readings is covered only when both are.
//
// An invalid path gives an error wrapping [ErrInvalidPath], as InvalidatePaths reports it.
// PathTags does not warn about a suspect escape; InvalidatePaths does.
func PathTags(path string) ([]string, error) {
	asLink, asText, _, err := pathReadings(path)
	if err != nil {
		return nil, err
	}
	if asText == asLink {
		return []string{asLink}, nil
	}
	return []string{asLink, asText}, nil
}
