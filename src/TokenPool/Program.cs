using TokenPool.Cli;

// tokenpool serve | simulate | channel | user | key | model | doctor — see Cli/TokenPoolCommands.cs.
return await TokenPoolCommands.Create().Parse(args).InvokeAsync();
