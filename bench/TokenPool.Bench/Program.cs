using TokenPool.Bench;

return args.FirstOrDefault() switch
{
    "upstream" => await BenchUpstream.RunAsync(Args.Parse(args[1..])),
    "yarp" => await PlainYarp.RunAsync(Args.Parse(args[1..])),
    _ => await Harness.RunAsync(Args.Parse(args)),
};
