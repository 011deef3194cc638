namespace TokenPool.Simulator;

/// <summary>A body with a repeated key, under the <c>reject</c> rule.</summary>
internal sealed class DuplicateKeyException(string path) : Exception($"Duplicate key '{path}' in the request body.")
{
    public string Path { get; } = path;
}
