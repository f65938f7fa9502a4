/* A paced loop of synchronous spool-like writes (bench/runs/2026-12-04-vm, "Twenty-first session").
 * Its own printed CPU figure is read from /proc/stat ticks and is NOT used: the record takes CPU
 * from run.sh + calc.sh (perf sampling of the whole machine); from this program only wall time. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
static long long busy(void){FILE*f=fopen("/proc/stat","r");long long u,n,s,i,w,q,sq,st;fscanf(f,"cpu %lld %lld %lld %lld %lld %lld %lld %lld",&u,&n,&s,&i,&w,&q,&sq,&st);fclose(f);return u+n+s+q+sq+st;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
 const char*mode=argv[1]; int n=atoi(argv[2]); int sz=atoi(argv[3]); long seg=64L<<20;
 char*buf; posix_memalign((void**)&buf,4096,sz+8192); memset(buf,'x',sz+8192);
 unlink("seg"); int fl=O_WRONLY|O_CREAT|O_DSYNC; if(!strcmp(mode,"direct")) fl|=O_DIRECT;
 int fd=open("seg",fl,0644); if(fd<0){perror("open");return 1;}
 if(strcmp(mode,"append")){ // prezero
   int z=open("seg",O_WRONLY); char*zb=calloc(1,1<<20); for(long o=0;o<seg;o+=1<<20) pwrite(z,zb,1<<20,o); fsync(z); close(z);
 }
 sleep(1);
 long long b0=busy(); double t0=now(); long off=0;
 for(int k=0;k<n;k++){
   double due=t0+k*0.001; {struct timespec ts; ts.tv_sec=(time_t)due; ts.tv_nsec=(long)((due-ts.tv_sec)*1e9); clock_nanosleep(CLOCK_MONOTONIC,TIMER_ABSTIME,&ts,0);} 
   if(!strcmp(mode,"none")){} else if(!strcmp(mode,"direct")){ long a=off&~4095L; long end=off+sz; long len=((end+4095)&~4095L)-a; if(pwrite(fd,buf,len,a)!=len){perror("w");return 1;} off=end; }
   else { if(pwrite(fd,buf,sz,off)!=sz){perror("w");return 1;} off+=sz; }
   if(off+sz+8192>seg) off=0;
 }
 double t1=now(); long long b1=busy();
 printf("%s n=%d sz=%d wall=%.2fs busy=%.2f cpu-s => %.1f us/commit\n",mode,n,sz,t1-t0,(b1-b0)/100.0,(b1-b0)/100.0*1e6/n);
}
