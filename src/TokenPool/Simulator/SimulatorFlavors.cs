namespace TokenPool.Simulator;

/// <summary>What each <see cref="SimulatorFlavor"/> serves and how it names itself.</summary>
internal static class SimulatorFlavors
{
    public static bool Serves(this SimulatorFlavor flavor, SimulatedApi api) => flavor switch
    {
        SimulatorFlavor.OpenAi => api is SimulatedApi.Responses or SimulatedApi.Chat,
        SimulatorFlavor.Anthropic => api == SimulatedApi.Messages,
        SimulatorFlavor.AllApis => true,
        _ => api == SimulatedApi.Chat,
    };

    /// <summary>The flavour's name as tests, the CLI and the <c>x-tokenpool-simulator</c> header spell it.</summary>
    public static string Name(this SimulatorFlavor flavor) => flavor switch
    {
        SimulatorFlavor.OpenAi => "openai",
        SimulatorFlavor.Vllm => "vllm",
        SimulatorFlavor.Ollama => "ollama",
        SimulatorFlavor.DeepSeek => "deepseek",
        SimulatorFlavor.SgLang => "sglang",
        SimulatorFlavor.Anthropic => "anthropic",
        _ => "all",
    };

    public static SimulatorFlavor? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "openai" => SimulatorFlavor.OpenAi,
        "vllm" => SimulatorFlavor.Vllm,
        "ollama" => SimulatorFlavor.Ollama,
        "deepseek" => SimulatorFlavor.DeepSeek,
        "sglang" => SimulatorFlavor.SgLang,
        "anthropic" or "messages" => SimulatorFlavor.Anthropic,
        "all" => SimulatorFlavor.AllApis,
        _ => null,
    };

    /// <summary>Every flavour name, for help texts and error messages.</summary>
    public const string Names = "openai, vllm, ollama, deepseek, sglang, anthropic, all";
}
