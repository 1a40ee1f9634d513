#!/usr/bin/perl
# Baseline for benchmarks/bounce_accuracy.py: how fast Debian's Sisimai 4.25
# (libsisimai-perl) decodes the same files. Measurement only; the parser
# never calls it. Usage: perl bounce_sisimai_baseline.pl ROUNDS FILE...
# Prints "<messages> <seconds>" (the wall time of the decoding loop).
use strict;
use warnings;
use Sisimai;
use Time::HiRes qw(time);

my $rounds = shift @ARGV;
my @files  = @ARGV;
my $count  = 0;
my $start  = time;
for my $round (1 .. $rounds) {
    for my $file (@files) {
        my $records = Sisimai->make($file, 'delivered' => 1);
        $count++;
    }
}
printf "%d %.6f\n", $count, time - $start;
